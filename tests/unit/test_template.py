"""Security and wiring properties of the SAM template (template.yaml), checked offline.

The template is read with PyYAML plus constructors for CloudFormation's short tags
(!Ref, !Sub, !GetAtt, ...), which become their long forms ({"Ref": ...}, {"Fn::Sub": ...}).
`scripts/lint-template` runs `sam validate --lint` and `cfn-lint` on top of this.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
FUNCTION_ROLES = ("ApiFunctionRole", "IngestFunctionRole", "RetentionFunctionRole")
ES_HTTP_ACTIONS = {"es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"}
# The managed domain's name, and its ARN as the roles and the access policy spell it.
DOMAIN_NAME = "rekognito-${Stage}"
DOMAIN_ARN = "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}:domain/" + DOMAIN_NAME
# The stored-video worker's role (only with VideoWorkerImageUri).
VIDEO_ROLE = "VideoWorkerFunctionRole"
# The two copies of the managed domain, by their deletion policy (DomainDeletionPolicy).
MANAGED_DOMAINS = {"Retain": "OpenSearchDomain", "Delete": "OpenSearchDomainDeletable"}


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # no stubs for PyYAML
    pass


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    # !Ref and !Condition have no "Fn::" in their long forms.
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return loaded


def resources_of(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_}


def resource(template: dict[str, Any], name: str, type_: str) -> dict[str, Any]:
    res: dict[str, Any] = template["Resources"][name]
    assert res["Type"] == type_
    return res


def both_branches(value: Any) -> list[Any]:
    """The possible values of a property that may be wrapped in Fn::If."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, when_true, when_false = value["Fn::If"]
        return [*both_branches(when_true), *both_branches(when_false)]
    return [value]


def is_no_value(value: Any) -> bool:
    return bool(value == {"Ref": "AWS::NoValue"})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: dict[str, Any]) -> str:
    """The template string of an Fn::Sub, in its short or its list form."""
    sub = value["Fn::Sub"]
    return str(sub[0] if isinstance(sub, list) else sub)


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement of every role and resource policy, with Fn::If branches expanded."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        policies = props.get("Policies", [])
        documents = [p["PolicyDocument"] for p in policies if isinstance(p, dict) and "PolicyDocument" in p]
        if "PolicyDocument" in props:
            documents.append(props["PolicyDocument"])
        if "AccessPolicies" in props:  # OpenSearch Service domains
            documents.append(props["AccessPolicies"])
        for document in documents:
            for statement in document["Statement"]:
                for branch in both_branches(statement):
                    if not is_no_value(branch):
                        yield name, branch


# ------------------------------------------------------------------ globals and functions


def test_globals_runtime_tracing_and_powertools(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["x86_64"]
    assert function["Tracing"] == "Active"
    assert function["MemorySize"] >= 1024
    variables = function["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"]
    assert both_branches(variables["REKOGNITO_STORE_BACKEND"])[-1] == "opensearch"
    assert set(both_branches(variables["REKOGNITO_OPENSEARCH_AUTH"])) == {"aoss", "es"}
    assert set(both_branches(variables["REKOGNITO_AUTH_MODE"])) == {"iam", "sigv4", "none"}
    assert both_branches(variables["REKOGNITO_AUDIT_TABLE"])[0] == {"Ref": "AuditTable"}
    for name in (
        "REKOGNITO_OPENSEARCH_URL",
        "REKOGNITO_OPENSEARCH_ENGINE",
        "REKOGNITO_INGEST_BUCKET",
        "REKOGNITO_LOG_LEVEL",
    ):
        assert name in variables


@pytest.mark.parametrize(
    ("function", "code_dir"),
    [("ApiFunction", "api"), ("IngestFunction", "ingest"), ("RetentionFunction", "retention")],
)
def test_function_points_at_its_handler(template: dict[str, Any], function: str, code_dir: str) -> None:
    props = resource(template, function, "AWS::Serverless::Function")["Properties"]
    assert props["CodeUri"] == f"functions/{code_dir}"
    handler = props.get("Handler", template["Globals"]["Function"].get("Handler"))
    assert handler == "app.handler"  # functions/<x>/app.py, def handler(event, context)


def test_every_function_logs_to_a_log_group_with_retention(template: dict[str, Any]) -> None:
    functions = resources_of(template, "AWS::Serverless::Function")
    assert len(functions) == 3
    for name, res in functions.items():
        logging = res["Properties"]["LoggingConfig"]
        group = resource(template, logging["LogGroup"]["Ref"], "AWS::Logs::LogGroup")
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert template["Parameters"]["LogRetentionDays"]["Default"] > 0


def test_layers_are_prebuilt_directories(template: dict[str, Any]) -> None:
    layers = resources_of(template, "AWS::Serverless::LayerVersion")
    assert {res["Properties"]["ContentUri"] for res in layers.values()} == {
        "build/layers/shared",
        "build/layers/dependencies",
        "build/layers/models",
    }
    for res in layers.values():
        assert res["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert (ROOT / "scripts" / "build-layers").is_file()
    assert (ROOT / "layers" / "dependencies" / "requirements.txt").is_file()
    api_layers = resource(template, "ApiFunction", "AWS::Serverless::Function")["Properties"]["Layers"]
    assert {"Ref": "ModelsLayer"} in api_layers


# ------------------------------------------------------------------ API and IAM auth


def test_api_has_a_conditional_iam_authorization(template: dict[str, Any]) -> None:
    assert template["Parameters"]["ApiAuth"]["AllowedValues"] == ["IAM", "FUNCTION", "NONE"]
    assert template["Conditions"]["UseIamAuth"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "IAM"]}
    body = resource(template, "RekognitoApi", "AWS::Serverless::Api")["Properties"]["DefinitionBody"]
    post = body["paths"]["/"]["post"]
    condition, when_iam, when_none = post["security"]["Fn::If"]
    assert condition == "UseIamAuth"
    assert when_iam == [{"sigv4": []}]
    assert is_no_value(when_none)
    scheme = body["components"]["securitySchemes"]["sigv4"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"
    integration = post["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert "${ApiFunction.Arn}" in integration["uri"]["Fn::Sub"]


def test_api_never_logs_request_bodies(template: dict[str, Any]) -> None:
    settings = resource(template, "RekognitoApi", "AWS::Serverless::Api")["Properties"]["MethodSettings"]
    assert all(setting.get("DataTraceEnabled") is False for setting in settings)


def test_api_permission_is_scoped_to_post_root(template: dict[str, Any]) -> None:
    permission = resource(template, "ApiInvokePermission", "AWS::Lambda::Permission")["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["SourceArn"]["Fn::Sub"].endswith("${RekognitoApi}/*/POST/")


# ------------------------------------------------------------------ ingest bucket


def test_ingest_bucket_is_encrypted_private_and_versioned(template: dict[str, Any]) -> None:
    props = resource(template, "IngestBucket", "AWS::S3::Bucket")["Properties"]
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    algorithms = both_branches(rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"])
    assert set(algorithms) <= {"AES256", "aws:kms"}
    assert algorithms
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_ingest_bucket_denies_requests_without_tls(template: dict[str, Any]) -> None:
    policy = resource(template, "IngestBucketPolicy", "AWS::S3::BucketPolicy")["Properties"]
    assert policy["Bucket"] == {"Ref": "IngestBucket"}
    denies = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(denies) == 1
    deny = denies[0]
    assert deny["Principal"] == "*"
    assert deny["Action"] in ("s3:*", ["s3:*"])
    assert {"Fn::GetAtt": ["IngestBucket", "Arn"]} in deny["Resource"]
    assert {"Fn::Sub": "${IngestBucket.Arn}/*"} in deny["Resource"]


def test_bucket_notifications_go_to_the_queue_after_its_policy(template: dict[str, Any]) -> None:
    bucket = resource(template, "IngestBucket", "AWS::S3::Bucket")
    queues = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert {q["Event"] for q in queues} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert all(q["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]} for q in queues)
    # S3 tests the destination when the notification is created: the policy must exist first.
    assert "IngestQueuePolicy" in as_list(bucket["DependsOn"])
    bucket_name = sub_text(bucket["Properties"]["BucketName"])
    policy = resource(template, "IngestQueuePolicy", "AWS::SQS::QueuePolicy")["Properties"]
    (statement,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source_arn = sub_text(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert source_arn.endswith(f":s3:::{bucket_name}")
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_only_the_ingest_bucket_may_send_to_the_queue(template: dict[str, Any]) -> None:
    # Issue 15 row 5: an IAM identity of the account allowed sqs:SendMessage must not be able
    # to hand the ingest function an event naming another bucket.
    bucket_name = sub_text(resource(template, "IngestBucket", "AWS::S3::Bucket")["Properties"]["BucketName"])
    policy = resource(template, "IngestQueuePolicy", "AWS::SQS::QueuePolicy")["Properties"]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "sqs:SendMessage"
    assert deny["Resource"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert sub_text(deny["Condition"]["ArnNotEquals"]["aws:SourceArn"]).endswith(f":s3:::{bucket_name}")


def test_ingest_bucket_takes_writes_only_in_collection_folders(template: dict[str, Any]) -> None:
    policy = resource(template, "IngestBucketPolicy", "AWS::S3::BucketPolicy")["Properties"]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s.get("NotResource")]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:PutObject"
    assert deny["NotResource"] == {"Fn::Sub": "${IngestBucket.Arn}/*/*"}


def test_api_role_reads_objects_it_is_given_and_lists_nothing(template: dict[str, Any]) -> None:
    # Issue 15 row 6: the API reads S3Object images for callers; keys hold names, so no listing,
    # and no bucket beyond the ingest bucket unless ApiS3ReadArns names it.
    statements = [s for name, s in policy_statements(template) if name == "ApiFunctionRole"]
    s3_actions = {a for s in statements for a in as_list(s["Action"]) if str(a).startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:GetObjectVersion"}
    resources = [
        r for s in statements if "s3:GetObject" in as_list(s["Action"]) for r in as_list(s["Resource"])
    ]
    assert {"Ref": "ApiS3ReadArns"} in resources
    ingest = [r for r in resources if isinstance(r, dict) and "Fn::Sub" in r]
    assert len(ingest) == 1
    assert sub_text(ingest[0]).endswith("-ingest-${AWS::Region}-${StackSuffix}/*")
    assert template["Parameters"]["ApiS3ReadArns"]["Default"] == ""
    assert template["Globals"]["Function"]["Environment"]["Variables"]["REKOGNITO_IAM_GRANTS"] == {
        "Ref": "IamGrants"
    }


# ------------------------------------------------------------------ queue, DLQ, ingest function


def test_queue_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    queue = resource(template, "IngestQueue", "AWS::SQS::Queue")["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    dlq = resource(template, "IngestDeadLetterQueue", "AWS::SQS::Queue")["Properties"]
    assert dlq["MessageRetentionPeriod"] >= queue.get("MessageRetentionPeriod", 345600)
    for props in (queue, dlq):
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props


def test_queue_visibility_covers_six_function_timeouts(template: dict[str, Any]) -> None:
    queue = resource(template, "IngestQueue", "AWS::SQS::Queue")["Properties"]
    function = resource(template, "IngestFunction", "AWS::Serverless::Function")["Properties"]
    timeout = function.get("Timeout", template["Globals"]["Function"]["Timeout"])
    window = function["Events"]["IngestQueue"]["Properties"].get("MaximumBatchingWindowInSeconds", 0)
    assert queue["VisibilityTimeout"] >= 6 * timeout + window


def test_ingest_reports_partial_batch_failures(template: dict[str, Any]) -> None:
    function = resource(template, "IngestFunction", "AWS::Serverless::Function")["Properties"]
    (event,) = function["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "BatchSize" in event["Properties"]


def test_retention_runs_daily(template: dict[str, Any]) -> None:
    function = resource(template, "RetentionFunction", "AWS::Serverless::Function")["Properties"]
    (event,) = function["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == "rate(1 day)"


# ------------------------------------------------------------------ IAM


def test_no_wildcard_action_on_wildcard_resource(template: dict[str, Any]) -> None:
    for name, statement in policy_statements(template):
        if statement["Effect"] != "Allow":
            continue
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        assert "*" not in actions, name
        assert not any(isinstance(a, str) and a.endswith(":*") for a in actions), (name, actions)
        if "*" in resources:
            # Only services without resource-level permissions may use Resource "*".
            assert all(a.startswith("xray:") for a in actions), (name, actions)


def test_functions_use_their_own_least_privilege_roles(template: dict[str, Any]) -> None:
    roles = set()
    for name, res in resources_of(template, "AWS::Serverless::Function").items():
        props = res["Properties"]
        assert "Policies" not in props, f"{name}: SAM would add managed policies with Resource '*'"
        roles.add(props["Role"]["Fn::GetAtt"][0])
    assert len(roles) == 3
    for role in roles:
        props = resource(template, role, "AWS::IAM::Role")["Properties"]
        assert "ManagedPolicyArns" not in props
        (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_audit_trail_is_append_only(template: dict[str, Any]) -> None:
    for name, statement in policy_statements(template):
        if "VideoJobsTable" in json.dumps(statement.get("Resource")):
            continue  # video jobs are updated and deleted; only the audit table is append-only
        actions = as_list(statement.get("Action", []))
        if any(a.startswith("dynamodb:") for a in actions):
            assert not {"dynamodb:UpdateItem", "dynamodb:DeleteItem"} & set(actions), name


def conditional_statements(template: dict[str, Any], role: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """A role's statements that sit in an Fn::If, by Sid: (condition, statement)."""
    props = resource(template, role, "AWS::IAM::Role")["Properties"]
    found = {}
    for policy in props["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if isinstance(statement, dict) and "Fn::If" in statement:
                condition, when_true, when_false = statement["Fn::If"]
                assert is_no_value(when_false), (role, condition)
                found[when_true["Sid"]] = (condition, when_true)
    return found


def test_opensearch_access_matches_the_mode(template: dict[str, Any]) -> None:
    for role in FUNCTION_ROLES:
        statements = conditional_statements(template, role)
        condition, aoss = statements["OpenSearchServerless"]
        assert condition == "UseServerless"
        assert aoss["Action"] == "aoss:APIAccessAll"
        assert aoss["Resource"] == {"Fn::GetAtt": ["OpenSearchCollection", "Arn"]}
        condition, existing = statements["OpenSearchDomain"]
        assert condition == "UseExistingDomain"
        assert set(existing["Action"]) == ES_HTTP_ACTIONS
        assert existing["Resource"] == {"Fn::Sub": "${ExistingDomainArn}/*"}
        condition, managed = statements["OpenSearchManagedDomain"]
        assert condition == "UseManagedDomain"
        assert set(managed["Action"]) == ES_HTTP_ACTIONS
        # Spelled out from the fixed name (a GetAtt would be a cycle: the domain names the roles).
        assert managed["Resource"] == [{"Fn::Sub": DOMAIN_ARN}, {"Fn::Sub": DOMAIN_ARN + "/*"}]


# ------------------------------------------------------------------ OpenSearch mode and managed domain


def test_default_mode_is_the_managed_domain(template: dict[str, Any]) -> None:
    mode = template["Parameters"]["OpenSearchMode"]
    assert mode["Default"] == "managed-domain"
    assert set(mode["AllowedValues"]) == {"managed-domain", "existing-domain", "serverless", "embedded"}
    assert "EXPERIMENTAL" in mode["Description"]
    conditions = template["Conditions"]
    assert conditions["UseManagedDomain"] == {"Fn::Equals": [{"Ref": "OpenSearchMode"}, "managed-domain"]}
    # samconfig.toml: both environments deploy a managed domain, dev deletes it with the stack.
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    expected = {"default": "Delete", "prod": "Retain"}
    for env, deletion_policy in expected.items():
        overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
        assert "OpenSearchMode=managed-domain" in overrides, env
        assert f"DomainDeletionPolicy={deletion_policy}" in overrides, env


def test_managed_domain_has_one_copy_per_deletion_policy(template: dict[str, Any]) -> None:
    assert template["Parameters"]["DomainDeletionPolicy"]["AllowedValues"] == ["Retain", "Delete"]
    domains = resources_of(template, "AWS::OpenSearchService::Domain")
    assert set(domains) == set(MANAGED_DOMAINS.values())
    for policy, name in MANAGED_DOMAINS.items():
        domain = domains[name]
        assert domain["DeletionPolicy"] == domain["UpdateReplacePolicy"] == policy
        condition = template["Conditions"][domain["Condition"]]
        assert condition == {
            "Fn::And": [
                {"Condition": "UseManagedDomain"},
                {"Fn::Equals": [{"Ref": "DomainDeletionPolicy"}, policy]},
            ]
        }
    # The copies must not drift apart.
    first, second = (domains[name]["Properties"] for name in MANAGED_DOMAINS.values())
    assert first == second


@pytest.mark.parametrize("name", sorted(MANAGED_DOMAINS.values()))
def test_managed_domain_is_encrypted_and_https_only(template: dict[str, Any], name: str) -> None:
    props = resource(template, name, "AWS::OpenSearchService::Domain")["Properties"]
    assert props["DomainName"] == {"Fn::Sub": DOMAIN_NAME}
    assert props["EngineVersion"] == "OpenSearch_2.19"
    assert props["EncryptionAtRestOptions"] == {"Enabled": True}
    assert props["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert props["DomainEndpointOptions"] == {
        "EnforceHTTPS": True,
        "TLSSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10",
    }
    assert props["EBSOptions"] == {
        "EBSEnabled": True,
        "VolumeType": "gp3",
        "VolumeSize": {"Ref": "DomainVolumeSize"},
    }
    cluster = props["ClusterConfig"]
    assert cluster["InstanceType"] == {"Ref": "DomainInstanceType"}
    assert cluster["InstanceCount"] == {"Ref": "DomainInstanceCount"}
    assert template["Parameters"]["DomainInstanceType"]["Default"] == "t3.medium.search"
    # IAM only: no fine-grained access control, hence no master user.
    assert "AdvancedSecurityOptions" not in props


@pytest.mark.parametrize("name", sorted(MANAGED_DOMAINS.values()))
def test_managed_domain_admits_only_the_function_roles(template: dict[str, Any], name: str) -> None:
    props = resource(template, name, "AWS::OpenSearchService::Domain")["Properties"]
    statements = props["AccessPolicies"]["Statement"]
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Principal", "Action", "Resource"}  # no Condition
        assert set(statement["Principal"]) == {"AWS"}
        principals = as_list(statement["Principal"]["AWS"])
        video_worker = {"Fn::If": ["UseVideo", {"Fn::GetAtt": [VIDEO_ROLE, "Arn"]}, {"Ref": "AWS::NoValue"}]}
        assert video_worker in principals  # docs/video.md
        principals = [p for p in principals if p != video_worker]
        assert sorted(principals, key=str) == [{"Fn::GetAtt": [role, "Arn"]} for role in FUNCTION_ROLES]
        assert set(as_list(statement["Action"])) <= ES_HTTP_ACTIONS
        assert statement["Resource"] == {"Fn::Sub": DOMAIN_ARN + "/*"}


def managed_endpoint(value: Any) -> list[Any]:
    """The URL's branches: serverless, retained domain, deletable domain, existing domain."""
    serverless_condition, serverless, rest = value["Fn::If"]
    retain_condition, retained, rest = rest["Fn::If"]
    delete_condition, deletable, existing = rest["Fn::If"]
    assert (serverless_condition, retain_condition, delete_condition) == (
        "UseServerless",
        "RetainManagedDomain",
        "DeleteManagedDomain",
    )
    return [serverless, retained, deletable, existing]


def test_functions_and_output_point_at_the_mode_endpoint(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    expected = [
        {"Fn::GetAtt": ["OpenSearchCollection", "CollectionEndpoint"]},
        {"Fn::Sub": "https://${OpenSearchDomain.DomainEndpoint}"},
        {"Fn::Sub": "https://${OpenSearchDomainDeletable.DomainEndpoint}"},
        {"Ref": "ExistingDomainEndpoint"},
    ]
    assert managed_endpoint(variables["REKOGNITO_OPENSEARCH_URL"]) == expected
    assert managed_endpoint(template["Outputs"]["OpenSearchEndpoint"]["Value"]) == expected
    # SigV4 for "es" with either domain, "aoss" only with Serverless.
    assert variables["REKOGNITO_OPENSEARCH_AUTH"] == {"Fn::If": ["UseServerless", "aoss", "es"]}


# ------------------------------------------------------------------ OpenSearch Serverless, audit table


def test_serverless_collection_and_its_policies(template: dict[str, Any]) -> None:
    # Experimental only (no refresh API, no custom document ids): never the default.
    assert template["Parameters"]["OpenSearchMode"]["Default"] != "serverless"
    collection = resource(template, "OpenSearchCollection", "AWS::OpenSearchServerless::Collection")
    assert collection["Condition"] == "UseServerless"
    assert collection["Properties"]["Type"] == "VECTORSEARCH"
    assert "OpenSearchEncryptionPolicy" in as_list(collection["DependsOn"])
    policies = resources_of(template, "AWS::OpenSearchServerless::SecurityPolicy")
    assert {p["Properties"]["Type"] for p in policies.values()} == {"encryption", "network"}
    access = resource(template, "OpenSearchDataAccessPolicy", "AWS::OpenSearchServerless::AccessPolicy")
    assert access["Condition"] == "UseServerless"
    text = access["Properties"]["Policy"]["Fn::Sub"]
    rules = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", text))
    principals = {p for rule in rules for p in rule["Principal"]}
    assert principals == {"ApiFunctionRole.Arn", "IngestFunctionRole.Arn", "RetentionFunctionRole.Arn"}


def test_audit_table_is_recoverable_and_encrypted(template: dict[str, Any]) -> None:
    table = resource(template, "AuditTable", "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    # The schema of rekognito.security.audit.DynamoDBAuditSink.
    assert props["KeySchema"] == [
        {"AttributeName": "stream", "KeyType": "HASH"},
        {"AttributeName": "seq", "KeyType": "RANGE"},
    ]
    assert {"AttributeName": "seq", "AttributeType": "N"} in props["AttributeDefinitions"]


def test_outputs(template: dict[str, Any]) -> None:
    expected = {"ApiUrl", "IngestBucketName", "IngestQueueUrl", "DeadLetterQueueUrl", "AuditTableName"}
    expected.add("OpenSearchEndpoint")
    assert expected <= set(template["Outputs"])


# ------------------------------------------------------------------ stored video (docs/video.md)

VIDEO_RESOURCES = (
    "VideoJobsTable",
    "VideoResultsBucket",
    "VideoResultsBucketPolicy",
    "VideoWorkQueue",
    "VideoWorkDeadLetterQueue",
    "VideoWorkerFunction",
    "VideoWorkMapping",
    "VideoDeadLetterMapping",
    "VideoWorkerFunctionLogGroup",
    "VideoWorkerFunctionRole",
    "ApiFunctionVideoPolicy",
)


def test_video_exists_only_with_a_worker_image(template: dict[str, Any]) -> None:
    assert template["Parameters"]["VideoWorkerImageUri"]["Default"] == ""
    assert template["Conditions"]["UseVideo"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "VideoWorkerImageUri"}, ""]}]
    }
    for name in VIDEO_RESOURCES:
        assert template["Resources"][name]["Condition"] == "UseVideo", name
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    for name, target in (
        ("REKOGNITO_VIDEO_JOBS_TABLE", "VideoJobsTable"),
        ("REKOGNITO_VIDEO_RESULTS_BUCKET", "VideoResultsBucket"),
        ("REKOGNITO_VIDEO_QUEUE_URL", "VideoWorkQueue"),
    ):
        assert variables[name] == {"Fn::If": ["UseVideo", {"Ref": target}, {"Ref": "AWS::NoValue"}]}


def test_video_worker_is_an_image_with_room_for_long_videos(template: dict[str, Any]) -> None:
    props = resource(template, "VideoWorkerFunction", "AWS::Lambda::Function")["Properties"]
    assert props["PackageType"] == "Image"
    assert props["Code"] == {"ImageUri": {"Ref": "VideoWorkerImageUri"}}
    assert props["Timeout"] == 900  # Lambda's maximum; a segment (120 s of video) takes far less
    assert props["EphemeralStorage"] == {"Size": 10240}  # a 10 GB video fits in /tmp
    assert template["Parameters"]["VideoWorkerMemory"]["Default"] >= 2048
    assert props["Role"] == {"Fn::GetAtt": [VIDEO_ROLE, "Arn"]}
    group = resource(template, props["LoggingConfig"]["LogGroup"]["Ref"], "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    variables = props["Environment"]["Variables"]
    globals_ = template["Globals"]["Function"]["Environment"]["Variables"]
    # A plain Lambda function gets no Globals: it repeats what it needs of them.
    for name in (
        "REKOGNITO_OPENSEARCH_URL",
        "REKOGNITO_OPENSEARCH_AUTH",
        "REKOGNITO_AUDIT_TABLE",
        "REKOGNITO_FACE_MODEL",
    ):
        assert variables[name] == globals_[name], name
    assert variables["REKOGNITO_VIDEO_JOBS_TABLE"] == {"Ref": "VideoJobsTable"}
    assert variables["REKOGNITO_VIDEO_DEAD_LETTER_QUEUE_ARN"] == {
        "Fn::GetAtt": ["VideoWorkDeadLetterQueue", "Arn"]
    }
    dockerfile = (ROOT / "functions" / "video_worker" / "Dockerfile").read_text(encoding="utf-8")
    for layer in ("shared", "dependencies", "models"):
        assert f"build/layers/{layer}/python" in dockerfile
    assert "--require-hashes" in dockerfile
    pin = (ROOT / "layers" / "video" / "requirements.txt").read_text(encoding="utf-8")
    assert "av==18.1.0" in pin and "--hash=sha256:" in pin


def test_video_queues_leases_and_dead_letters(template: dict[str, Any]) -> None:
    work = resource(template, "VideoWorkQueue", "AWS::SQS::Queue")["Properties"]
    dlq = resource(template, "VideoWorkDeadLetterQueue", "AWS::SQS::Queue")["Properties"]
    assert work["VisibilityTimeout"] >= 6 * 900 and dlq["VisibilityTimeout"] >= 900
    assert work["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["VideoWorkDeadLetterQueue", "Arn"]}
    assert work["RedrivePolicy"]["maxReceiveCount"] == 3  # REKOGNITO_VIDEO_MAX_ATTEMPTS
    for props in (work, dlq):
        assert props["SqsManagedSseEnabled"] is True
    for name, queue in (
        ("VideoWorkMapping", "VideoWorkQueue"),
        ("VideoDeadLetterMapping", "VideoWorkDeadLetterQueue"),
    ):
        mapping = resource(template, name, "AWS::Lambda::EventSourceMapping")["Properties"]
        assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert mapping["FunctionName"] == {"Ref": "VideoWorkerFunction"}
        assert mapping["BatchSize"] == 1
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    work_mapping = template["Resources"]["VideoWorkMapping"]["Properties"]
    assert work_mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "VideoMaxConcurrency"}


def test_video_results_are_private_and_expire(template: dict[str, Any]) -> None:
    table = resource(template, "VideoJobsTable", "AWS::DynamoDB::Table")["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["collection"]
    bucket = resource(template, "VideoResultsBucket", "AWS::S3::Bucket")["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireResults"]["ExpirationInDays"] == {"Ref": "VideoRetentionDays"}
    assert rules["ExpireSegments"]["Prefix"] == "segments/"
    policy = resource(template, "VideoResultsBucketPolicy", "AWS::S3::BucketPolicy")["Properties"]
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_video_roles_are_scoped(template: dict[str, Any]) -> None:
    statements = conditional_statements(template, VIDEO_ROLE)
    assert {"OpenSearchServerless", "OpenSearchDomain", "OpenSearchManagedDomain"} <= set(statements)
    props = resource(template, VIDEO_ROLE, "AWS::IAM::Role")["Properties"]
    plain = {s["Sid"]: s for p in props["Policies"] for s in p["PolicyDocument"]["Statement"] if "Sid" in s}
    assert plain["PublishCompletion"]["Action"] == "sns:Publish"
    assert plain["PublishCompletion"]["Resource"]["Fn::Sub"].endswith(":${AWS::AccountId}:AmazonRekognition*")
    assert plain["FanOutSegments"]["Resource"] == {"Fn::GetAtt": ["VideoWorkQueue", "Arn"]}
    api = resource(template, "ApiFunctionVideoPolicy", "AWS::IAM::RolePolicy")["Properties"]
    assert api["RoleName"] == {"Ref": "ApiFunctionRole"}
    sids = {s["Sid"] for s in api["PolicyDocument"]["Statement"]}
    assert sids == {"VideoJobs", "VideoResults", "ListVideoResults", "QueueVideoJobs"}
    access = resource(template, "VideoOpenSearchDataAccessPolicy", "AWS::OpenSearchServerless::AccessPolicy")
    assert access["Condition"] == "UseVideoWithServerless"


# ------------------------------------------------------------------ deploy findings (issue 17)


def test_ingest_bucket_name_does_not_collide_across_redeploys(template: dict[str, Any]) -> None:
    # The bucket is retained when a stack is deleted: a new stack of the same stage must not
    # reuse its name. Every place that spells the name adds the same part of the stack's id.
    suffix = {
        "Fn::Select": [
            0,
            {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]},
        ]
    }
    bucket = resource(template, "IngestBucket", "AWS::S3::Bucket")
    assert bucket["DeletionPolicy"] == "Retain"
    spellings = [bucket["Properties"]["BucketName"]]
    spellings.append(template["Globals"]["Function"]["Environment"]["Variables"]["REKOGNITO_INGEST_BUCKET"])
    spellings += [
        r
        for _, s in policy_statements(template)
        for r in as_list(s.get("Resource"))
        if "-ingest-" in json.dumps(r)
    ]
    spellings += [
        s["Condition"][test]["aws:SourceArn"]
        for _, s in policy_statements(template)
        for test in ("ArnEquals", "ArnNotEquals")
        if test in s.get("Condition", {})
    ]
    assert len(spellings) >= 6
    name = sub_text(bucket["Properties"]["BucketName"])
    for spelling in spellings:
        assert spelling["Fn::Sub"][1] == {"StackSuffix": suffix}
        assert name in sub_text(spelling)
    assert "AccountId" not in name
    # The longest stage and region still fit S3's 63 characters.
    longest = name.replace("${Stage}", "x" * 16).replace("${AWS::Region}", "ap-southeast-4")
    assert len(longest.replace("${StackSuffix}", "1a2b3c4d")) <= 63


def test_face_model_is_one_the_models_layer_ships(template: dict[str, Any]) -> None:
    build = (ROOT / "scripts" / "build-layers").read_text(encoding="utf-8")
    (shipped,) = re.findall(r'default_models = "([^"]+)"', build)
    manifest = json.loads(
        (ROOT / "shared" / "rekognito" / "data" / "models.json").read_text(encoding="utf-8")
    )
    for value in template["Parameters"]["FaceModel"]["AllowedValues"]:
        model_names = [name for name in manifest if name == value or name.startswith(value + "-")]
        assert model_names, value
        assert any(name in shipped.split() for name in model_names), f"{value} is not in the models layer"


def _gateway_responses(template: dict[str, Any]) -> dict[str, Any]:
    body = resource(template, "RekognitoApi", "AWS::Serverless::Api")["Properties"]["DefinitionBody"]
    responses: dict[str, Any] = body["x-amazon-apigateway-gateway-responses"]
    return responses


@pytest.mark.parametrize("response_type", ["REQUEST_TOO_LARGE", "API_CONFIGURATION_ERROR"])
def test_bodies_the_lambda_path_cannot_take_answer_image_too_large(
    template: dict[str, Any], response_type: str
) -> None:
    response = _gateway_responses(template)[response_type]
    assert (
        response["responseParameters"]["gatewayresponse.header.x-amzn-ErrorType"]
        == "'ImageTooLargeException'"
    )
    body = json.loads(response["responseTemplates"]["application/json"])
    assert body["__type"] == body["Code"] == "ImageTooLargeException"
    assert "Image.S3Object" in body["Message"]
    assert 400 <= int(response["statusCode"]) < 500  # botocore does not retry it


def test_other_gateway_errors_are_rekognition_shaped(template: dict[str, Any]) -> None:
    response = _gateway_responses(template)["DEFAULT_5XX"]
    body = json.loads(response["responseTemplates"]["application/json"])
    assert body["__type"] == "InternalServerError"


def test_localstack_profile(template: dict[str, Any]) -> None:
    # No DynamoDB table on LocalStack: the audit trail goes to files, and no role names the table.
    table = resource(template, "AuditTable", "AWS::DynamoDB::Table")
    assert table["Condition"] == "UseAuditTable"
    assert template["Conditions"]["UseAuditTable"] == {"Fn::Equals": [{"Ref": "Platform"}, "aws"]}
    for name, statement in policy_statements(template):
        if statement.get("Sid") == "AuditTrail":
            role = template["Resources"][name]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            wrapped = [
                s for s in role if isinstance(s, dict) and "Fn::If" in s and s["Fn::If"][1] == statement
            ]
            assert wrapped and wrapped[0]["Fn::If"][0] == "UseAuditTable", name
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["REKOGNITO_STORE_BACKEND"] == {"Fn::If": ["UseEmbeddedStore", "embedded", "opensearch"]}
    # ApiAuth=FUNCTION: API Gateway checks nothing, the function checks SigV4 against a key pair.
    assert "FUNCTION" in template["Parameters"]["ApiAuth"]["AllowedValues"]
    assert template["Parameters"]["FunctionSecretAccessKey"]["NoEcho"] is True
    rule = template["Rules"]["FunctionAuthNeedsAKeyPair"]
    assert len(rule["Assertions"]) == 2
    assert variables["REKOGNITO_API_ACCESS_KEY_ID"]["Fn::If"][0] == "UseFunctionAuth"
    samconfig = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    overrides = dict(
        item.split("=", 1) for item in samconfig["localstack"]["deploy"]["parameters"]["parameter_overrides"]
    )
    assert overrides["Platform"] == "localstack"
    assert overrides["ApiAuth"] == "FUNCTION"
    assert overrides["OpenSearchMode"] in ("embedded", "existing-domain")
    assert set(overrides) <= set(template["Parameters"])


def test_the_knn_engine_default_is_the_settings_default(template: dict[str, Any]) -> None:
    # lucene: the engine the tests run against a real node (docs/benchmarks.md, OpenSearch).
    from rekognito.settings import Settings

    assert template["Parameters"]["KnnEngine"]["Default"] == Settings().opensearch_engine == "lucene"
