"""Run a batch's grading tasks on a Dask distributed cluster.

`rnnkit grade-batch DIR --out OUT --scheduler tcp://host:8786` sends one task per
submission to the cluster's workers and collects them as they finish. Workers need
the kit installed (the same version) and OUT on a shared filesystem: each task
writes its own results there, atomically, exactly as the local pool does. A course
starts the cluster with what it already has: dask-jobqueue (SLURMCluster, PBSCluster)
on an HPC system, dask-kubernetes on Kubernetes, or `dask scheduler` / `dask worker`
by hand. Give each worker one thread (`--nthreads 1`): a task already runs two
processes (the submission and the reference).
"""


from rnnkit_grader.results import JobFailed


def run_on_dask(address, jobs, out, threads, finished, timeout=None, grade=None, write_error=None):
    """Grade `jobs` on the cluster at `address`; call finished(job, outcome) for each.

    Each task is grade(job, out, threads, timeout) on a worker (batch passes its grade_one_guarded,
    which grades the submission in a supervised process of its own: a submission that hangs is
    killed at its wall-clock limit and one that kills its process costs only that task). A task
    that fails anyway (its Dask worker lost, say) gets an error result written here with
    write_error(job, out, message, kind) (batch.write_error_result), so every submission has a
    results.json. This module does not import batch: batch calls it.
    """
    from distributed import Client, as_completed

    with Client(address) as client:
        futures = {client.submit(grade, job, str(out), threads, timeout, pure=False): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                finished(job, future.result())
            except JobFailed as exc:  # its error result is written
                finished(job, exc)
            except Exception as exc:  # one failed task must not stop the batch
                failure = JobFailed(f"the cluster could not grade this submission: {type(exc).__name__}: {str(exc)[:1000]}", "cluster")
                try:
                    write_error(job, out, str(failure), "cluster")
                except Exception:
                    pass
                finished(job, failure)
