"""Open a rendered page in headless Chromium and report what a reader would see.

    python tools/browser_check.py build/pages/01_rnn_numpy.html [--screenshot shot.png]

Serves the page's folder over HTTP on localhost (as a web host would), loads the page
through the Chrome DevTools Protocol, waits for MathJax to finish typesetting, and
reports console errors, uncaught exceptions and failed loads, images that did not
decode, and how much of a screenshot is not background. Exit status 1 on any error.
Chromium comes from apt (`chromium` or `chromium-headless-shell`); $RNNKIT_CHROMIUM
names another binary.
"""

import argparse
import base64
import contextlib
import functools
import http.server
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium():
    """Path of a Chromium binary, or None."""
    named = os.environ.get("RNNKIT_CHROMIUM")
    if named:
        return shutil.which(named) or (named if os.access(named, os.X_OK) else None)
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@contextlib.contextmanager
def serve(folder):
    """An HTTP server for `folder` on a free localhost port, in a thread; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class DevTools:
    """A minimal Chrome DevTools Protocol session on one page target (websocket-client, synchronous)."""

    def __init__(self, ws_url):
        import websocket  # websocket-client, installed with jupyter_server

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def close(self):
        self.ws.close()


@contextlib.contextmanager
def chromium(binary, width=1280, height=1600):
    """A headless Chromium with remote debugging on a free port; yields the DevTools HTTP endpoint."""
    with tempfile.TemporaryDirectory(prefix="rnnkit-chromium-", ignore_cleanup_errors=True) as profile:
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "about:blank"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            endpoint = None
            deadline = time.monotonic() + 60
            while endpoint is None and time.monotonic() < deadline:
                line = process.stderr.readline()
                if not line and process.poll() is not None:
                    raise RuntimeError(f"{binary} exited with status {process.returncode} before listening")
                if line.startswith("DevTools listening on ws://"):
                    endpoint = "http://" + line.split("ws://", 1)[1].split("/", 1)[0]
            if endpoint is None:
                raise RuntimeError(f"{binary} did not open its DevTools port within 60 s")
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its pipe drained
            yield endpoint
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the browser and its renderer and zygote processes
            process.wait()


def inked_fraction(png):
    """The fraction of a screenshot's pixels that differ from its most common colour."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height)
    background = max(colours)[0]
    return 1 - background / (image.width * image.height), len(colours)


def check_page(page, binary=None, screenshot=None):
    """Load `page` in headless Chromium; returns a dict of what was seen (errors, images, inked fraction)."""
    page = Path(page).resolve()
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("no Chromium found (apt-get install chromium, or set RNNKIT_CHROMIUM)")
    with serve(page.parent) as base, chromium(binary) as endpoint:
        targets = json.loads(urllib.request.urlopen(f"{endpoint}/json/list", timeout=30).read())
        target = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(target["webSocketDebuggerUrl"])
        try:
            for domain in ("Runtime", "Log", "Page"):
                tools.call(f"{domain}.enable")
            tools.call("Page.navigate", url=f"{base}/{page.name}")
            tools.wait_for("Page.loadEventFired")
            typeset = tools.evaluate(
                "new Promise(done => window.MathJax && MathJax.Hub"
                " ? MathJax.Hub.Queue(() => done(document.querySelectorAll('.MathJax, .MathJax_Display, mjx-container').length))"
                " : done(-1))"
            )
            images = tools.evaluate(
                "Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth > 0, () => false)))"
            )
            png = base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"])
            tools.call("Runtime.evaluate", expression="0")  # collect the events sent meanwhile
        finally:
            tools.close()
    errors = []
    for event in tools.events:
        params = event.get("params", {})
        if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console." + params["type"] + ": " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif event["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append("uncaught: " + (details.get("exception", {}).get("description") or details.get("text", "")))
        elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    if screenshot:
        Path(screenshot).write_bytes(png)
    inked, colours = inked_fraction(png)
    return {"errors": errors, "images": len(images), "images_broken": images.count(False),
            "math_typeset": typeset, "inked_fraction": inked, "colours": colours, "browser": binary}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args(argv)
    seen = check_page(args.page, screenshot=args.screenshot)
    print(json.dumps(seen, indent=2))
    return 1 if seen["errors"] or seen["images_broken"] or seen["inked_fraction"] < 0.02 else 0


if __name__ == "__main__":
    sys.exit(main())
