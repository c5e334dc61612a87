"""What SAM adds to the functions' roles, checked on the real SAM transform (offline).

tests/tests/api/iam.rs compares each function's `Policies` in template.yaml (plus the
sqs:SendMessage SAM grants for an SQS on-failure destination) with the DynamoDB requests
the function makes. This script checks the other half: after the transform, every
function role holds only AWSLambdaBasicExecutionRole (logs), its own `Policies`, and,
for a function with an SQS on-failure destination, sqs:SendMessage on that queue alone.
Run by scripts/test.sh with the SAM CLI's Python (aws-sam-translator).
"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


class Policies:
    """The managed policies SAM may attach by name (only the basic execution role here)."""

    def load(self):
        return {"AWSLambdaBasicExecutionRole": BASIC}


def main(path):
    text = open(path, encoding="utf-8").read()
    # The transform wants an S3 location for code; `cargo lambda` / `sam build` set it.
    source = yaml_parse(text.replace("CodeUri: .", "CodeUri: s3://bucket/key"))
    functions = {
        name: r
        for name, r in source["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    out = transform(source, {}, Policies())["Resources"]
    problems = []
    for name, fn in functions.items():
        role = out[f"{name}Role"]["Properties"]
        if role.get("ManagedPolicyArns") != [BASIC]:
            problems.append(f"{name}: managed policies {role.get('ManagedPolicyArns')}")
        expected = [
            json.dumps(p["Statement"], sort_keys=True) for p in fn["Properties"]["Policies"]
        ]
        destination = (
            fn["Properties"].get("EventInvokeConfig", {}).get("DestinationConfig", {})
        )
        for d in destination.values():
            expected.append(
                json.dumps(
                    [
                        {
                            "Action": "sqs:SendMessage",
                            "Effect": "Allow",
                            "Resource": d["Destination"],
                        }
                    ],
                    sort_keys=True,
                )
            )
        got = [
            json.dumps(p["PolicyDocument"]["Statement"], sort_keys=True)
            for p in role.get("Policies", [])
        ]
        if sorted(got) != sorted(expected):
            problems.append(f"{name}: role policies\n  {got}\nexpected\n  {expected}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"{len(functions)} function roles: basic execution, their own Policies, nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
