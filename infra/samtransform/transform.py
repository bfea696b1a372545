"""Translate template.yaml to plain CloudFormation with the SAM translator
(the library `sam validate` and `sam deploy` run), offline, so `make
validate` fails on a template SAM would refuse at deploy time and can lint
what SAM generates (versions, aliases, permissions, roles).

Offline means: local CodeUri/DefinitionUri paths become fixed S3 locations
(as `sam package` would upload them), the region is us-east-1, and managed
policies map to their ARNs by name instead of being looked up in IAM.

usage: python3 infra/samtransform/transform.py template.yaml OUT.json
"""

import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

LOCAL_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


class ManagedPolicies:
    """Answers SAM's managed-policy lookups without IAM."""

    def load(self):
        return PolicyArns()


class PolicyArns(dict):
    def __missing__(self, name):
        return "arn:aws:iam::aws:policy/" + name

    def __contains__(self, name):
        return True


def packaged(template):
    """Replaces local paths with the S3 locations `sam package` writes."""
    for logical_id, res in template.get("Resources", {}).items():
        key = LOCAL_URIS.get(res.get("Type"))
        uri = res.get("Properties", {}).get(key)
        if isinstance(uri, str) and not uri.startswith("s3://"):
            res["Properties"][key] = "s3://sandstep-validate/" + logical_id
    return template


def main(src, dst):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(src, encoding="utf-8") as f:
        template = packaged(yaml_parse(f.read()))
    try:
        out = transform(template, {}, ManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print("sam translate: " + cause.message, file=sys.stderr)
        return 1
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
