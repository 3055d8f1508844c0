variable "service_name" {
  description = "The service's name: its Cloud Map service, its SPIFFE ID spiffe://<mesh_namespace>/<service_name>, the ECS service and task family"
  type        = string
}

variable "mesh_namespace" {
  description = "The mesh namespace (hawser's node.namespace), the trust domain of the SPIFFE IDs"
  type        = string
}

variable "cloudmap_namespace_id" {
  description = "The Cloud Map private DNS namespace the tasks are registered in (e.g. shop.local)"
  type        = string
}

variable "cloudmap_namespace_name" {
  description = "That namespace's name, which hawser's cloudmap discovery and the IAM condition use"
  type        = string
}

variable "region" {
  description = "The AWS region (Cloud Map endpoint, logs)"
  type        = string
}

variable "cluster_arn" {
  description = "The ECS cluster"
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks"
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks: allow 15006 from the mesh's tasks and 9901 from Prometheus"
  type        = list(string)
}

variable "app_image" {
  description = "The application's image; it listens on 127.0.0.1:<app_port>"
  type        = string
}

variable "app_port" {
  description = "The application's port on localhost (hawser's inbound app)"
  type        = number
  default     = 8080
}

variable "hawser_image" {
  description = "The hawser image (the repository's Dockerfile, pushed to ECR)"
  type        = string
}

variable "upstreams" {
  description = "Services of the same Cloud Map namespace this one calls: http://NAME/ through HTTP_PROXY, or 127.0.0.1:15001, 15002, ... in this order"
  type        = list(string)
  default     = []
}

variable "allow" {
  description = "Identities allowed to call this service, e.g. [\"spiffe://shop/checkout\"]; empty: any peer with a valid certificate"
  type        = list(string)
  default     = []
}

variable "tls_secret_arns" {
  description = "Secrets Manager secrets (plain-text PEM) holding this service's certificate with its chain, its key and the CA bundle"
  type        = object({ cert = string, key = string, ca = string })
}

variable "tls_refresh_seconds" {
  description = "How often the hawser-tls container checks the secrets for a new version"
  type        = number
  default     = 60
}

variable "desired_count" {
  description = "Tasks of the service"
  type        = number
  default     = 2
}

variable "cpu" {
  description = "Task CPU units (Fargate)"
  type        = number
  default     = 512
}

variable "memory" {
  description = "Task memory in MiB (Fargate)"
  type        = number
  default     = 1024
}

variable "capture_forwarder" {
  description = "Capture: \"\" (the default) leaves it off; host:port of the mesh's forwarder (the forwarder module's address output, forwarder.<namespace>:8888) tees every exchange to it over mutual TLS"
  type        = string
  default     = ""
}

variable "fis_managed_instance_role_arn" {
  description = "AWS FIS aws:ecs:task-* actions (ecs/fis/cpu-stress.json): \"\" (the default) leaves them out; the ARN of the SSM managed-instance role adds the amazon-ssm-agent container (ecs/fis/ssm-agent-container.json) and lets the task role register the task with it"
  type        = string
  default     = ""
}
