# One meshed service on ECS Fargate: the app, its hawser sidecar, the
# certificate refresher and FireLens, registered in Cloud Map by ECS.
terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

locals {
  log_group_name = "/ecs/${var.mesh_namespace}/${var.service_name}"
  # arn:aws:iam::ACCOUNT:role/PATH/NAME -> NAME (MANAGED_INSTANCE_ROLE_NAME)
  fis_role_name = var.fis_managed_instance_role_arn == "" ? "" : reverse(split("/", var.fis_managed_instance_role_arn))[0]
}

module "containers" {
  source                         = "./containers"
  service_name                   = var.service_name
  mesh_namespace                 = var.mesh_namespace
  cloudmap_namespace             = var.cloudmap_namespace_name
  region                         = var.region
  app_image                      = var.app_image
  hawser_image                   = var.hawser_image
  app_port                       = var.app_port
  upstreams                      = var.upstreams
  allow                          = var.allow
  tls_secret_arns                = var.tls_secret_arns
  tls_refresh_seconds            = var.tls_refresh_seconds
  log_group_name                 = local.log_group_name
  capture_forwarder              = var.capture_forwarder
  fis_managed_instance_role_name = local.fis_role_name
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = 30
}

resource "aws_ecs_task_definition" "this" {
  family                   = "${var.mesh_namespace}-${var.service_name}"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = module.containers.container_definitions
  volume {
    name = "hawser-tls"
  }
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}

# Tasks' addresses as A records (Prometheus' dns_sd_configs) and in
# DiscoverInstances (hawser's cloudmap discovery); ECS reports their health.
resource "aws_service_discovery_service" "this" {
  name = var.service_name
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

resource "aws_ecs_service" "this" {
  name            = var.service_name
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.this.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }
  service_registries {
    registry_arn   = aws_service_discovery_service.this.arn
    container_name = "hawser"
  }
}
