"""`make lab` starts a JupyterLab a student can use: assignments/ only, the kit's kernel, no nbgrader tools."""

import importlib.util
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("rnnkit_tools_student_lab", ROOT / "tools" / "student_lab.py")
student_lab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_lab)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The launch `make lab` does, on a free port without a browser; yields (base URL, token)."""
    env = student_lab.prepare(tmp_path_factory.mktemp("student-jupyter"))
    cmd = student_lab.lab_command(["--no-browser", "--ServerApp.port=0", "--ServerApp.ip=127.0.0.1",
                                   "--ServerApp.token=rnnkit-test-token", "--ServerApp.open_browser=False",
                                   "--ServerApp.allow_root=True"])  # CI runs as root
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = None
        deadline = time.monotonic() + 90
        while base is None and time.monotonic() < deadline:
            line = server.stderr.readline()
            if not line and server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}")
            if match := re.search(r"(http://127\.0\.0\.1:[1-9]\d*)/lab", line):
                base = match.group(1)
        assert base, "jupyter lab printed no URL within 90 s"
        while time.monotonic() < deadline:  # the URL may be printed a moment before the port accepts
            try:
                urllib.request.urlopen(f"{base}/api/status?token=rnnkit-test-token", timeout=5).close()
                break
            except OSError:
                time.sleep(0.5)
        yield base, "rnnkit-test-token"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def get(lab, path):
    base, token = lab
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_the_file_browser_shows_the_assignments_only(lab):
    status, body = get(lab, "/api/contents")
    assert status == 200
    names = {item["name"] for item in json.loads(body)["content"]}
    assert {"01_rnn_numpy", "08_seq2seq"} <= names and "solutions" not in names
    for outside in ("/api/contents/solutions", "/api/contents/..%2Fsolutions", "/files/..%2FREADME.md"):
        assert get(lab, outside)[0] in (400, 403, 404), f"{outside}: nothing outside assignments/ is reachable"


def test_the_kernel_is_this_interpreter_with_the_kit(lab):
    specs = json.loads(get(lab, "/api/kernelspecs")[1])
    assert specs["default"] == "python3"
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    assert Path(argv[0]).resolve() == Path(sys.executable).resolve()


def test_nbgrader_instructor_extensions_are_off(lab):
    for path in ("/formgrader", "/assignments", "/formgrader/api/assignments"):
        assert get(lab, path)[0] == 404, f"{path} is served"
    status, page = get(lab, "/lab")
    assert status == 200
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert "@jupyter/nbgrader" in json.dumps(config.get("disabledExtensions", []))
