# The forwarder task's container definitions and its configuration, from the
# example ecs/forwarder-task-definition.json with this deployment's values
# filled in, as ../../containers does for a meshed service. No provider: the
# tests evaluate this module offline.

variable "mesh_namespace" { type = string }
variable "region" { type = string }
variable "hawser_image" { type = string }
variable "bucket" { type = string }
variable "prefix" { type = string }
variable "allow" { type = list(string) }
variable "max_spool_bytes" { type = string }
variable "tls_secret_arns" { type = object({ cert = string, key = string, ca = string }) }
variable "tls_refresh_seconds" { type = number }
variable "log_group_name" { type = string }

locals {
  example = jsondecode(file("${path.module}/../../../forwarder-task-definition.json"))

  forwarder_config = {
    listen        = "0.0.0.0:8888"
    admin         = { address = "0.0.0.0:9901" }
    tls           = { cert = "/etc/hawser/tls/cert.pem", key = "/etc/hawser/tls/key.pem", ca = "/etc/hawser/tls/ca.pem" }
    authorization = { allow = length(var.allow) > 0 ? var.allow : ["spiffe://${var.mesh_namespace}/*"] }
    storage = {
      spool           = "/var/lib/hawser/spool"
      max_spool_bytes = var.max_spool_bytes
      s3              = { bucket = var.bucket, region = var.region }
      prefix          = var.prefix
    }
    drain_timeout = "100s"
  }

  firelens = {
    logDriver = "awsfirelens"
    options = {
      Name              = "cloudwatch_logs", region = var.region, log_group_name = var.log_group_name,
      log_stream_prefix = "forwarder/", auto_create_group = "false"
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
    "spool-owner" = {
      logConfiguration = local.firelens
    }
    "forwarder" = {
      image            = var.hawser_image
      logConfiguration = local.firelens
      environment      = [{ name = "HAWSER_CONFIG_YAML", value = yamlencode(local.forwarder_config) }]
    }
  }
}

output "container_definitions" {
  value = jsonencode([for c in local.example.containerDefinitions : merge(c, lookup(local.overrides, c.name, {}))])
}

output "forwarder_config" {
  value = yamlencode(local.forwarder_config)
}

output "ephemeral_storage_gib" {
  value = local.example.ephemeralStorage.sizeInGiB
}
