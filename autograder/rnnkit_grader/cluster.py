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


def run_on_dask(address, jobs, out, threads, finished):
    """Grade `jobs` on the cluster at `address`; call finished(job, outcome) for each."""
    from distributed import Client, as_completed

    from rnnkit_grader.batch import grade_job

    with Client(address) as client:
        futures = {client.submit(grade_job, job, str(out), threads, pure=False): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                finished(job, future.result())
            except Exception as exc:  # one failed task must not stop the batch
                finished(job, exc)
