# The mesh's capture forwarder on ECS Fargate (docs/capture.md): one ECS
# service registered in Cloud Map as forwarder.<namespace>, storing what the
# sidecars capture in S3. Its spool is the task's ephemeral storage: what it
# acknowledged but has not uploaded yet goes with a task that is killed
# (ecs/README.md, "The forwarder's spool").
terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

locals {
  log_group_name = "/ecs/${var.mesh_namespace}/forwarder"
  # "capture" -> "capture/*"; "" -> "*": the objects the task role may put.
  object_pattern = var.prefix == "" ? "*" : "${trimsuffix(var.prefix, "/")}/*"
}

module "containers" {
  source              = "./containers"
  mesh_namespace      = var.mesh_namespace
  region              = var.region
  hawser_image        = var.hawser_image
  bucket              = var.bucket_name
  prefix              = var.prefix
  allow               = var.allow
  max_spool_bytes     = var.max_spool_bytes
  tls_secret_arns     = var.tls_secret_arns
  tls_refresh_seconds = var.tls_refresh_seconds
  log_group_name      = local.log_group_name
}

resource "aws_cloudwatch_log_group" "forwarder" {
  name              = local.log_group_name
  retention_in_days = 30
}

resource "aws_ecs_task_definition" "forwarder" {
  family                   = "${var.mesh_namespace}-forwarder"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = module.containers.container_definitions
  ephemeral_storage {
    size_in_gib = module.containers.ephemeral_storage_gib
  }
  volume {
    name = "hawser-tls"
  }
  volume {
    name = "forwarder-spool"
  }
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}

# forwarder.<namespace>: an A record per task, which the sidecars' capture.forwarder resolves.
resource "aws_service_discovery_service" "forwarder" {
  name = "forwarder"
  dns_config {
    namespace_id   = var.cloudmap_namespace_id
    routing_policy = "MULTIVALUE"
    dns_records {
      type = "A"
      ttl  = 10
    }
  }
  health_check_custom_config {
    failure_threshold = 1
  }
}

resource "aws_ecs_service" "forwarder" {
  name            = "forwarder"
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.forwarder.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"
  # A new task is healthy before the old one drains, so sidecars always have somewhere to send.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }
  service_registries {
    registry_arn   = aws_service_discovery_service.forwarder.arn
    container_name = "forwarder"
  }
}
