output "address" {
  description = "Where sidecars send capture batches: the module's capture_forwarder input"
  value       = "${aws_service_discovery_service.forwarder.name}.${var.cloudmap_namespace_name}:8888"
}

output "task_role_arn" {
  value = aws_iam_role.task.arn
}

output "forwarder_config" {
  description = "The forwarder's configuration (HAWSER_CONFIG_YAML)"
  value       = module.containers.forwarder_config
}
