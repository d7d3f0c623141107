"""puffer sweep on a real PostgreSQL server: 2 workers, one killed mid-trial.

The server comes from PUFFER_TEST_POSTGRES_URL (CI starts one with scripts/start_test_postgres.sh).
Without it the test skips, saying why; with PUFFER_REQUIRE_POSTGRES=1 (CI) it fails instead.
"""
import os
import signal
import uuid

import optuna
import pytest
from optuna.trial import TrialState
from pufferlib.sweep_storage import check_storage
from sweep_helpers import MEDIUM, run, start, sweep_args, wait_running

URL = os.environ.get("PUFFER_TEST_POSTGRES_URL")
REQUIRED = os.environ.get("PUFFER_REQUIRE_POSTGRES") == "1"


def _server_problem():
    if not URL:
        return "PUFFER_TEST_POSTGRES_URL is not set (start a server: scripts/start_test_postgres.sh)"
    try:
        import psycopg2
    except ImportError:
        return "the postgres driver is missing: pip install 'pufferlib[postgres]'"
    try:
        psycopg2.connect(URL, connect_timeout=10).close()
    except psycopg2.Error as e:
        return f"cannot connect to {URL}: {str(e).strip().splitlines()[0]}"
    return None


@pytest.fixture
def postgres_url():
    problem = _server_problem()
    if problem and REQUIRED:
        pytest.fail(f"PUFFER_REQUIRE_POSTGRES=1 but {problem}")
    if problem:
        pytest.skip(problem)
    return URL


def test_two_workers_on_postgres_survive_a_killed_worker(tmp_path, postgres_url):
    tag = "pg" + uuid.uuid4().hex[:8]
    name = f"cartpole_{tag}"
    args = sweep_args("--sweep.storage", postgres_url, "--tag", tag, runs=4, workers=2, timesteps=MEDIUM)
    proc = start(tmp_path, args)
    postgres_url = check_storage(postgres_url)  # with the driver installed here (psycopg2)
    try:
        killed = wait_running(proc, postgres_url, name=name, min_number=1)
        assert killed is not None, proc.communicate(timeout=300)[0]
        os.kill(killed.user_attrs["pid"], signal.SIGKILL)
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out
        study = optuna.load_study(study_name=name, storage=postgres_url)
        states = [t.state for t in study.trials]
        assert len(states) == 4, out
        assert study.trials[killed.number].state == TrialState.FAIL
        assert "died" in study.trials[killed.number].user_attrs["error"]
        assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 3, out
        assert len({t.user_attrs["pid"] for t in study.trials}) >= 2  # both workers took trials
        again = run(tmp_path, args)  # resumes: nothing left to do
        assert again.returncode == 0 and "(4 trials so far)" in again.stdout, again.stdout + again.stderr
        assert "postgresql://" in again.stdout
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            optuna.delete_study(study_name=name, storage=postgres_url)
        except KeyError:
            pass
