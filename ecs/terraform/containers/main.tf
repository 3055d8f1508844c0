# The task's container definitions and hawser's configuration, from the
# example ecs/task-definition.json with this deployment's values filled in:
# the example stays the one description of the containers (health checks,
# dependsOn, volumes, the certificate refresher). No provider: the tests
# evaluate this module offline.

variable "service_name" { type = string }
variable "mesh_namespace" { type = string }
variable "cloudmap_namespace" { type = string }
variable "region" { type = string }
variable "app_image" { type = string }
variable "hawser_image" { type = string }
variable "app_port" { type = number }
variable "upstreams" { type = list(string) }
variable "allow" { type = list(string) }
variable "tls_secret_arns" { type = object({ cert = string, key = string, ca = string }) }
variable "tls_refresh_seconds" { type = number }
variable "log_group_name" { type = string }
variable "capture_forwarder" { type = string }
variable "fis_managed_instance_role_name" { type = string }

locals {
  example = jsondecode(file("${path.module}/../../task-definition.json"))
  # AWS FIS's SSM agent, only when asked for: a task has only what it needs to serve.
  ssm_agent = [for c in [jsondecode(file("${path.module}/../../fis/ssm-agent-container.json"))] : merge(c, {
    logConfiguration = local.firelens
    environment      = [{ name = "MANAGED_INSTANCE_ROLE_NAME", value = var.fis_managed_instance_role_name }]
  }) if var.fis_managed_instance_role_name != ""]

  hawser_config = {
    node          = { service = var.service_name, namespace = var.mesh_namespace, identity = "spiffe://${var.mesh_namespace}/${var.service_name}" }
    admin         = { address = "0.0.0.0:9901" }
    drain_timeout = "25s"
    tls           = { cert = "/etc/hawser/tls/cert.pem", key = "/etc/hawser/tls/key.pem", ca = "/etc/hawser/tls/ca.pem" }
    discovery     = { cloudmap = { region = var.region } }
    inbound = [merge(
      { name = var.service_name, listen = "0.0.0.0:15006", app = "127.0.0.1:${var.app_port}" },
      # no authorization block: any peer whose certificate verifies
      { for k, v in { authorization = { allow = var.allow } } : k => v if length(var.allow) > 0 }
    )]
    outbound = {
      http_proxy = "127.0.0.1:4140"
      services = [for i, name in var.upstreams : {
        name      = name
        alias     = "127.0.0.1:${15001 + i}"
        discovery = { cloudmap = { namespace = var.cloudmap_namespace, service = name } }
      }]
    }
    telemetry = { access_log = { path = "stdout" } }
  }
  # Capture only when a forwarder is given: mutual TLS (the top-level tls), the
  # forwarder proving spiffe://<mesh_namespace>/forwarder (capture.tls.sans' default).
  config = merge(local.hawser_config,
  { for k, v in { capture = { enabled = true, forwarder = var.capture_forwarder } } : k => v if var.capture_forwarder != "" })

  firelens = {
    logDriver = "awsfirelens"
    options = {
      Name              = "cloudwatch_logs", region = var.region, log_group_name = var.log_group_name,
      log_stream_prefix = "${var.service_name}/", auto_create_group = "false"
    }
  }

  # What differs from the example, per container.
  overrides = {
    "log-router" = {
      logConfiguration = {
        logDriver = "awslogs"
        options   = { awslogs-group = var.log_group_name, awslogs-region = var.region, awslogs-stream-prefix = "firelens" }
      }
    }
    "hawser-tls" = {
      logConfiguration = local.firelens
      environment = [
        { name = "TLS_CERT_SECRET", value = var.tls_secret_arns.cert },
        { name = "TLS_KEY_SECRET", value = var.tls_secret_arns.key },
        { name = "TLS_CA_SECRET", value = var.tls_secret_arns.ca },
        { name = "REFRESH_SECONDS", value = tostring(var.tls_refresh_seconds) },
      ]
    }
    "hawser" = {
      image            = var.hawser_image
      logConfiguration = local.firelens
      environment      = [{ name = "HAWSER_CONFIG_YAML", value = yamlencode(local.config) }]
    }
    "app" = {
      image            = var.app_image
      logConfiguration = local.firelens
    }
  }
}

output "container_definitions" {
  value = jsonencode(concat([for c in local.example.containerDefinitions : merge(c, lookup(local.overrides, c.name, {}))], local.ssm_agent))
}

output "hawser_config" {
  value = yamlencode(local.config)
}
