"""oraclekit — what the oracle tests (tests/oracle_*.py) share: the pass/fail tally and running
the rlvr binary under test (RLVR_BIN). Not itself a test: its name does not match oracle_*.py."""
import os
import subprocess
import sys

BIN = os.environ["RLVR_BIN"]
tally = {"passes": 0, "fails": 0}


def check(ok, what):
    print(("ok: " if ok else "FAILED: ") + what)
    tally["passes" if ok else "fails"] += 1


def rlvr(*args, stdin=None):
    """rlvr's stdout; a failing command ends the test with its stderr."""
    r = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{os.path.basename(sys.argv[0])}: rlvr {' '.join(args[:3])}... failed: {r.stderr.strip()}")
    return r.stdout


def finish(name):
    """Print the summary line and exit with the test's status."""
    print(f"{name}: {tally['passes']} passed, {tally['fails']} failed")
    sys.exit(1 if tally["fails"] else 0)
