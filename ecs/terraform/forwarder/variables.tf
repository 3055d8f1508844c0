variable "mesh_namespace" {
  description = "The mesh namespace (the sidecars' node.namespace): the forwarder proves spiffe://<mesh_namespace>/forwarder, the identity sidecars check by default"
  type        = string
}

variable "cloudmap_namespace_id" {
  description = "The Cloud Map private DNS namespace the forwarder is registered in, as forwarder.<namespace>"
  type        = string
}

variable "cloudmap_namespace_name" {
  description = "That namespace's name (e.g. shop.local): the sidecars' capture.forwarder is forwarder.<name>:8888"
  type        = string
}

variable "region" {
  description = "The AWS region (the bucket's signing region, logs)"
  type        = string
}

variable "cluster_arn" {
  description = "The ECS cluster"
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the task"
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the task: allow 8888 from the mesh's tasks and 9901 from Prometheus"
  type        = list(string)
}

variable "hawser_image" {
  description = "The hawser image (the repository's Dockerfile, pushed to ECR)"
  type        = string
}

variable "bucket_name" {
  description = "The S3 bucket of the capture archive (created elsewhere: its lifecycle, encryption and retention are yours)"
  type        = string
}

variable "prefix" {
  description = "Key prefix in the bucket (storage.prefix); the task role may put objects under <prefix>/* only"
  type        = string
  default     = "capture"
}

variable "allow" {
  description = "Identities allowed to send batches (authorization.allow); empty: spiffe://<mesh_namespace>/*"
  type        = list(string)
  default     = []
}

variable "max_spool_bytes" {
  description = "storage.max_spool_bytes: captured data not yet in S3, on the task's ephemeral storage (21 GiB)"
  type        = string
  default     = "16GiB"
}

variable "tls_secret_arns" {
  description = "Secrets Manager secrets (plain-text PEM) holding the forwarder's certificate (SAN spiffe://<mesh_namespace>/forwarder) with its chain, its key and the CA bundle"
  type        = object({ cert = string, key = string, ca = string })
}

variable "tls_refresh_seconds" {
  description = "How often the hawser-tls container checks the secrets (the forwarder reads its certificate at start: a new one takes effect with the next task)"
  type        = number
  default     = 60
}

variable "cpu" {
  description = "Task CPU units (Fargate)"
  type        = number
  default     = 1024
}

variable "memory" {
  description = "Task memory in MiB (Fargate)"
  type        = number
  default     = 2048
}

variable "desired_count" {
  description = "Forwarder tasks; each has its own spool, and sidecars send to any of them (Cloud Map A records)"
  type        = number
  default     = 1
}
