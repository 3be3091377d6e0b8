"""Runs a state machine on a local personalize-refresh endpoint with boto3, as a user would.

Creates a state machine (a Pass state, a Wait and a Succeed), starts an execution with an input,
polls DescribeExecution until it closes, and reads its history a page at a time. Prints one JSON
object for the caller to check: the ARNs, the statuses seen, the described execution (dates as
epoch seconds) and the history's event types and ids.

usage: stepfunctions_boto3.py --endpoint http://127.0.0.1:PORT
Exit status 0 when the execution succeeded, 1 otherwise.
"""

import argparse
import json
import sys
import time

import boto3

ROLE_ARN = "arn:aws:iam::000000000000:role/StepFunctionsLocal"
DEFINITION = {
    "StartAt": "Greet",
    "States": {
        "Greet": {
            "Type": "Pass",
            "Parameters": {"greeting.$": "States.Format('hello {}', $.who)"},
            "ResultPath": "$.greet",
            "Next": "Pause",
        },
        "Pause": {"Type": "Wait", "Seconds": 60, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args()
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="anything",
        aws_secret_access_key="anything",
    )

    machine = sfn.create_state_machine(
        name="boto3-hello", definition=json.dumps(DEFINITION), roleArn=ROLE_ARN
    )["stateMachineArn"]
    started = sfn.start_execution(
        stateMachineArn=machine, name="first", input=json.dumps({"who": "boto3"})
    )
    arn = started["executionArn"]

    statuses = []
    for _ in range(500):
        described = sfn.describe_execution(executionArn=arn)
        statuses.append(described["status"])
        if described["status"] != "RUNNING":
            break
        time.sleep(0.01)

    events = []
    page = {"executionArn": arn, "maxResults": 2}
    while True:
        answer = sfn.get_execution_history(**page)
        events.extend(answer["events"])
        if "nextToken" not in answer:
            break
        page["nextToken"] = answer["nextToken"]

    print(
        json.dumps(
            {
                "stateMachineArn": machine,
                "executionArn": arn,
                "startDate": started["startDate"].timestamp(),
                "statuses": statuses,
                "described": {
                    "status": described["status"],
                    "startDate": described["startDate"].timestamp(),
                    "stopDate": described["stopDate"].timestamp(),
                    "input": described["input"],
                    "output": described["output"],
                    "redriveStatus": described.get("redriveStatus"),
                },
                "eventTypes": [e["type"] for e in events],
                "eventIds": [e["id"] for e in events],
            }
        )
    )
    return 0 if described["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
