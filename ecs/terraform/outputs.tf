output "task_definition_arn" {
  value = aws_ecs_task_definition.this.arn
}

output "service_name" {
  value = aws_ecs_service.this.name
}

output "cloudmap_service_arn" {
  value = aws_service_discovery_service.this.arn
}

output "task_role_arn" {
  value = aws_iam_role.task.arn
}

output "hawser_config" {
  description = "The sidecar's configuration (HAWSER_CONFIG_YAML)"
  value       = module.containers.hawser_config
}
