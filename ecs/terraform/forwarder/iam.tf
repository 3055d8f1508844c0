# Least privilege: the execution role pulls images and writes the FireLens
# router's own logs; the task role puts archive objects under the prefix
# (and aborts a failed multipart upload), reads the forwarder's three
# secrets, and writes its log group. ECS registers the task in Cloud Map
# itself (service_registries, with its service-linked role), and the
# forwarder discovers nothing, so the task role has no servicediscovery
# action at all.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.mesh_namespace}-forwarder-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role" "task" {
  name               = "${var.mesh_namespace}-forwarder-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "CaptureArchive"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["arn:aws:s3:::${var.bucket_name}/${local.object_pattern}"]
  }
  statement {
    sid       = "ForwarderCertificate"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.tls_secret_arns.cert, var.tls_secret_arns.key, var.tls_secret_arns.ca]
  }
  statement {
    sid       = "FireLensLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.forwarder.arn}:*"]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "hawser-forwarder"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
