# Least privilege: the execution role pulls images and writes the FireLens
# router's own logs; the task role discovers peers in this namespace, reads
# this service's three secrets, and writes this service's log group. ECS
# registers the tasks in Cloud Map itself (service_registries), so no
# Register/Deregister permission is needed here.

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
  name               = "${var.mesh_namespace}-${var.service_name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role" "task" {
  name               = "${var.mesh_namespace}-${var.service_name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "HawserDiscovery"
    actions   = ["servicediscovery:DiscoverInstances", "servicediscovery:DiscoverInstancesRevision"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "servicediscovery:NamespaceName"
      values   = [var.cloudmap_namespace_name]
    }
  }
  statement {
    sid       = "HawserCertificates"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.tls_secret_arns.cert, var.tls_secret_arns.key, var.tls_secret_arns.ca]
  }
  # AWS FIS's SSM agent container (ecs/fis/iam/task-role-ssm.json): register the task as a managed instance.
  dynamic "statement" {
    for_each = var.fis_managed_instance_role_arn == "" ? [] : [1]
    content {
      sid       = "FisSsmRegistration"
      actions   = ["ssm:CreateActivation", "ssm:AddTagsToResource"]
      resources = ["*"]
    }
  }
  dynamic "statement" {
    for_each = var.fis_managed_instance_role_arn == "" ? [] : [1]
    content {
      sid       = "FisManagedInstanceRole"
      actions   = ["iam:PassRole"]
      resources = [var.fis_managed_instance_role_arn]
    }
  }
  statement {
    sid       = "FireLensLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "hawser"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
