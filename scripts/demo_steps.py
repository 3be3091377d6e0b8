"""The pipeline's four steps, run by hand against a running local endpoint on MovieLens.

usage: demo_steps.py --endpoint http://127.0.0.1:PORT --data DIR [--speed N]

Each step is the real handler, run once per call by `personalize-refresh step`, exactly as Lambda
would run it; this script plays the state machine's part: it retries a step that answers
RetryableConflict and waits between polls as poll-status says. The runs, on
examples/movielens/config.json:

1. "initial": FULL imports of the older 80% of the interactions (by time), the items and the
   users; a FULL training; the campaign created.
2. "week-1-milliseconds": the next week exported in milliseconds is refused by start-import,
   naming the file and row, before any import is paid for.
3. "week-1": the same week in seconds, INCREMENTAL; an UPDATE training; the campaign updated
   after the quality gate (an UPDATE passes on its FULL base).
4. "week-1" again: every step finds what the first execution started; nothing is created twice.
"""

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time

import boto3
from botocore.config import Config

CLI = "target/debug/personalize-refresh"
CONFIG = "examples/movielens/config.json"
BUCKET = "personalize-refresh-data"
SOLUTION = "movielens-user-personalization"
WEEK = 7 * 24 * 3600


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--speed", type=float, default=300.0)
    args = parser.parse_args()

    env = dict(os.environ, AWS_ENDPOINT_URL=args.endpoint, AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo",
               LOCAL_CONFIG_PATHS="true", POLL_WAIT_SCALE=str(1.0 / args.speed),
               RUST_LOG="warn")
    upload(args)

    print("\nrun 'initial': FULL imports, FULL training, campaign created", flush=True)
    request = {"configUri": CONFIG, "runId": "initial", "training": "FULL", "imports": [
        {"dataset": "interactions", "mode": "FULL",
         "dataLocation": f"s3://{BUCKET}/movielens/interactions/initial.csv"},
        {"dataset": "items", "mode": "FULL"}, {"dataset": "users", "mode": "FULL"}]}
    run(env, request)

    print("\nrun 'week-1-milliseconds': the next week, exported in milliseconds", flush=True)
    request = {"configUri": CONFIG, "runId": "week-1-milliseconds", "training": "UPDATE",
               "imports": [{"dataset": "interactions", "mode": "INCREMENTAL",
                            "dataLocation": f"s3://{BUCKET}/slices/week-1-milliseconds.csv"}]}
    failure = step(env, "start-import", {"request": request}, expect_failure=True)
    print(f"  start-import refused it: {failure}")

    print("\nrun 'week-1': the same week in seconds, INCREMENTAL import, UPDATE training", flush=True)
    request = {"configUri": CONFIG, "runId": "week-1", "training": "UPDATE", "imports": [
        {"dataset": "interactions", "mode": "INCREMENTAL",
         "dataLocation": f"s3://{BUCKET}/slices/week-1.csv"}]}
    run(env, request)

    print("\nrun 'week-1' again, as a second execution with the same runId would", flush=True)
    imported = step(env, "start-import", {"request": request, "executionName": "second"})
    version = step(env, "create-version", {"request": request, "solution": SOLUTION})
    print(f"  start-import resumed {imported['imports'][0]['jobName']}: {imported['imports'][0]['resumed']}")
    print(f"  create-version resumed {version['solutionVersionArn']}: {version['resumed']}")


def upload(args):
    """Puts the data where the config expects it, split by time as new data would arrive."""
    s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1",
                      aws_access_key_id="demo", aws_secret_access_key="demo",
                      config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket=BUCKET)
    with open(os.path.join(args.data, "interactions.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], sorted(rows[1:], key=lambda r: int(r[2]))
    cut = int(len(rows) * 0.8)
    start = int(rows[cut][2])
    week = [r for r in rows[cut:] if int(r[2]) < start + WEEK]

    def body(selected, scale=1):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([r[0], r[1], str(int(r[2]) * scale), *r[3:]] for r in selected)
        return out.getvalue().encode()

    s3.put_object(Bucket=BUCKET, Key="movielens/interactions/initial.csv", Body=body(rows[:cut]))
    s3.put_object(Bucket=BUCKET, Key="slices/week-1.csv", Body=body(week))
    s3.put_object(Bucket=BUCKET, Key="slices/week-1-milliseconds.csv", Body=body(week, 1000))
    for name in ("items", "users"):
        with open(os.path.join(args.data, f"{name}.csv"), "rb") as f:
            s3.put_object(Bucket=BUCKET, Key=f"movielens/{name}/{name}.csv", Body=f.read())
    print(f"uploaded {cut} older interactions, a week of {len(week)} newer ones (also in "
          f"milliseconds), the items and the users to s3://{BUCKET}/", flush=True)


def run(env, request):
    """One run, as the state machine does it: import and wait, train and wait, deploy and wait."""
    if request.get("imports"):
        imported = step(env, "start-import", {"request": request})
        for job in imported["imports"]:
            print(f"  import {job['jobName']} ({job['mode']}, {job['rowsChecked']} rows checked "
                  f"in {job['files']} file(s)) started")
        if "eventTracker" in imported:
            print(f"  event tracker id: {imported['eventTracker']['trackingId']}")
        wait(env, imported["arns"], "imports")
    version = step(env, "create-version", {"request": request, "solution": SOLUTION})
    if version["skipped"]:
        print(f"  training skipped: {version['reason']}")
        return
    print(f"  {version['trainingMode']} training {version['solutionVersionArn']} started")
    wait(env, version["arns"], "training")
    deployed = step(env, "update-campaign", {"request": request, "solution": SOLUTION,
                                            "solutionVersionArn": version["solutionVersionArn"]})
    for campaign in deployed["campaigns"]:
        gate = campaign.get("gate", {}).get("reason", "")
        print(f"  campaign {campaign['name']}: {campaign['action']} ({gate})")
    wait(env, deployed["arns"], "deployment")


def wait(env, arns, label):
    """Polls until done, sleeping what poll-status answers (already scaled to real seconds)."""
    polls = 0
    while True:
        status = step(env, "poll-status", {"arns": arns})
        polls += 1
        if status["done"]:
            break
        time.sleep(status["waitSeconds"])
    if status["failed"]:
        raise SystemExit(f"  {label} failed: {status['failureReason']}")
    longest = max((j["elapsedSeconds"] for j in status["jobs"]), default=0)
    print(f"  {label} ACTIVE after {longest / 60:.0f} simulated minutes, {polls} polls", flush=True)


def step(env, name, event, expect_failure=False):
    """Runs one step; retries RetryableConflict as the state machine's Retry would."""
    for _ in range(120):
        done = subprocess.run([CLI, "step", name], input=json.dumps(event), env=env,
                              capture_output=True, text=True)
        if done.returncode == 0:
            if expect_failure:
                raise SystemExit(f"{name} was expected to fail and answered {done.stdout}")
            return json.loads(done.stdout)
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        error = lines[-1].removeprefix("error: ")
        if not error.startswith("RetryableConflict"):
            if expect_failure:
                return error
            raise SystemExit(f"{name} failed: {error}")
        time.sleep(0.5)
    raise SystemExit(f"{name} still answers RetryableConflict")


if __name__ == "__main__":
    sys.exit(main())
