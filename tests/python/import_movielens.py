"""Imports MovieLens into a local personalize-refresh endpoint with boto3, as a user would.

Uploads the converted CSV files through S3, creates a dataset group, the three schemas and
datasets, starts a FULL import for each, and polls every resource until it is ACTIVE. The
endpoint's own clock decides how long things take, so run it with a high --speed.

With --slices, it then imports a week of newer interactions INCREMENTALly twice: once
exported in milliseconds, as a broken upstream job might, which the import must refuse naming
the file, line and column; then correctly, which must append.

With --train, it then trains on what was imported: a solution of aws-user-personalization
(automatic training off), a FULL solution version polled until ACTIVE, its offline metrics,
and a campaign on that version polled until ACTIVE.

usage: import_movielens.py --endpoint http://127.0.0.1:PORT --data DIR [--prefix NAME] [--slices] [--train]
Exit status 0 when every import, training and deployment ends as it should, 1 otherwise.
"""

import argparse
import datetime
import pathlib
import sys
import time

import boto3
from botocore.config import Config

DATASETS = ("interactions", "items", "users")
ROLE_ARN = "arn:aws:iam::000000000000:role/PersonalizeS3Access"
RECIPE_ARN = "arn:aws:personalize:::recipe/aws-user-personalization"


def clients(endpoint):
    common = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="anything",
        aws_secret_access_key="anything",
    )
    s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **common)
    return s3, boto3.client("personalize", **common)


def wait_active(describe, label, timeout_seconds):
    """Polls until the resource leaves its CREATE states; returns the final description."""
    deadline = time.monotonic() + timeout_seconds
    last = None
    while True:
        resource = describe()
        status = resource["status"]
        if status != last:
            when = resource["lastUpdatedDateTime"].astimezone(datetime.timezone.utc)
            print(f"  {label:<28} {status:<20} (simulated {when:%Y-%m-%d %H:%M:%S} UTC)", flush=True)
            last = status
        if status in ("ACTIVE", "CREATE FAILED"):
            return resource
        if time.monotonic() > deadline:
            raise SystemExit(f"{label} still {status} after {timeout_seconds} s")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--data", required=True, type=pathlib.Path)
    parser.add_argument("--prefix", default="movielens")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--slices", action="store_true",
                        help="also import a newer week twice: in milliseconds (refused), then right")
    parser.add_argument("--train", action="store_true",
                        help="then train a solution version on the data and deploy it to a campaign")
    args = parser.parse_args()
    s3, personalize = clients(args.endpoint)
    bucket = f"{args.prefix}-data"

    print(f"uploading to s3://{bucket}/ through S3", flush=True)
    s3.create_bucket(Bucket=bucket)
    for name in DATASETS:
        s3.upload_file(str(args.data / f"{name}.csv"), bucket, f"{name}/{name}.csv")
    listed = s3.list_objects_v2(Bucket=bucket)["KeyCount"]
    assert listed == len(DATASETS), f"expected {len(DATASETS)} objects, S3 lists {listed}"
    body = s3.get_object(Bucket=bucket, Key="users/users.csv")["Body"].read()
    assert body == (args.data / "users.csv").read_bytes(), "S3 returned other bytes than uploaded"

    print(f"creating dataset group {args.prefix}", flush=True)
    group = personalize.create_dataset_group(name=args.prefix)["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"],
                "dataset group", args.timeout)

    datasets = {}
    for name in DATASETS:
        schema = personalize.create_schema(
            name=f"{args.prefix}-{name}", schema=(args.data / f"{name}.avsc").read_text())["schemaArn"]
        datasets[name] = personalize.create_dataset(
            name=f"{args.prefix}-{name}", schemaArn=schema, datasetGroupArn=group,
            datasetType=name.upper())["datasetArn"]
    for name, arn in datasets.items():
        wait_active(lambda arn=arn: personalize.describe_dataset(datasetArn=arn)["dataset"],
                    f"dataset {name}", args.timeout)

    jobs = {}
    for name, arn in datasets.items():
        jobs[name] = personalize.create_dataset_import_job(
            jobName=f"{args.prefix}-{name}-initial", datasetArn=arn, roleArn=ROLE_ARN,
            dataSource={"dataLocation": f"s3://{bucket}/{name}/"}, importMode="FULL",
        )["datasetImportJobArn"]
    failed = []
    for name, arn in jobs.items():
        job = wait_active(
            lambda arn=arn: personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"],
            f"import {name}", args.timeout)
        if job["status"] != "ACTIVE":
            failed.append(f"{name}: {job.get('failureReason')}")

    listed = personalize.list_dataset_import_jobs(datasetArn=datasets["interactions"])["datasetImportJobs"]
    assert [j["status"] for j in listed] == ["ACTIVE"] or failed, listed
    if failed:
        print("imports failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    print(f"imported MovieLens into {group}")
    if args.slices and import_slices(s3, personalize, args, bucket, datasets["interactions"]):
        return 1
    if args.train:
        return train(personalize, args, group)
    return 0


def import_slices(s3, personalize, args, bucket, dataset):
    """Imports the week after the data ends, first with millisecond timestamps, then right."""
    lines = (args.data / "interactions.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    week = 7 * 24 * 3600
    good, broken = [header], [header]
    for row in rows[-1500:]:
        user, item, ts, event, value = row.split(",")
        newer = int(ts) + week
        good.append(f"{user},{item},{newer},{event},{value}")
        broken.append(f"{user},{item},{newer * 1000},{event},{value}")

    outcomes = {}
    for name, body in (("milliseconds", broken), ("seconds", good)):
        key = f"slices/week-1-{name}/part-0.csv"
        s3.put_object(Bucket=bucket, Key=key, Body="\n".join(body).encode() + b"\n")
        job = personalize.create_dataset_import_job(
            jobName=f"{args.prefix}-week-1-{name}", datasetArn=dataset, roleArn=ROLE_ARN,
            dataSource={"dataLocation": f"s3://{bucket}/slices/week-1-{name}/"}, importMode="INCREMENTAL",
        )["datasetImportJobArn"]
        outcomes[name] = wait_active(
            lambda job=job: personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"],
            f"import week 1 in {name}", args.timeout)

    refused, accepted = outcomes["milliseconds"], outcomes["seconds"]
    print(f"  the milliseconds slice was refused: {refused.get('failureReason')}")
    if refused["status"] != "CREATE FAILED" or accepted["status"] != "ACTIVE":
        print("the slices did not end as they should", file=sys.stderr)
        return 1
    print("imported a week of new interactions INCREMENTALly")
    return 0


def train(personalize, args, group):
    """Trains a FULL solution version on the dataset group's data and deploys it to a campaign."""
    print(f"creating solution {args.prefix}", flush=True)
    solution = personalize.create_solution(
        name=args.prefix, datasetGroupArn=group, recipeArn=RECIPE_ARN, performAutoTraining=False,
    )["solutionArn"]
    wait_active(lambda: personalize.describe_solution(solutionArn=solution)["solution"],
                "solution", args.timeout)

    version = personalize.create_solution_version(
        solutionArn=solution, trainingMode="FULL")["solutionVersionArn"]
    trained = wait_active(
        lambda: personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"],
        "solution version", args.timeout)
    if trained["status"] != "ACTIVE":
        print(f"training failed: {trained.get('failureReason')}", file=sys.stderr)
        return 1
    metrics = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
    for name, value in sorted(metrics.items()):
        print(f"  metric {name:<42} {value:.4f}")

    campaign = personalize.create_campaign(
        name=args.prefix, solutionVersionArn=version, minProvisionedTPS=1)["campaignArn"]
    deployed = wait_active(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"],
                           "campaign", args.timeout)
    if deployed["status"] != "ACTIVE":
        print(f"the campaign failed: {deployed.get('failureReason')}", file=sys.stderr)
        return 1
    print(f"campaign {campaign} is ACTIVE on {version}, trained in "
          f"{trained.get('trainingHours', 0):.2f} simulated hours, "
          f"precision_at_10 {metrics.get('precision_at_10', float('nan')):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
