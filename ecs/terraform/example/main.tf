# A meshed pair from an empty account (docs/deploy-ecs.md): a cluster, a Cloud
# Map namespace, the certificate secrets, and two services, caller calling
# responder over mutual TLS; with capture = true, also the capture forwarder
# (forwarder.demo.local:8888) and its S3 bucket, every exchange teed to it. Networking comes from variables (the default VPC
# works). Put the PEM values into the secrets before the tasks start:
# docs/deploy-ecs.md shows `hawser certs` and `aws secretsmanager put-secret-value`.

variable "region" {
  type    = string
  default = "us-east-1"
}
variable "vpc_id" { type = string }
variable "subnet_ids" { type = list(string) }
variable "hawser_image" { type = string }
variable "app_image" {
  description = "An HTTP app listening on 127.0.0.1:8080, used for both sides"
  type        = string
}
variable "capture" {
  description = "Deploy the capture forwarder and tee both services' traffic to it"
  type        = bool
  default     = false
}
variable "fis" {
  description = "Prepare the tasks for AWS FIS's aws:ecs:task-cpu-stress (ecs/fis/cpu-stress.json): the SSM agent container and its managed-instance role"
  type        = bool
  default     = false
}
variable "capture_bucket" {
  description = "The capture archive's bucket, created here (bucket names are global: pick your own)"
  type        = string
  default     = "demo-hawser-capture"
}

provider "aws" {
  region = var.region
}

resource "aws_ecs_cluster" "demo" {
  name = "demo"
}

resource "aws_service_discovery_private_dns_namespace" "demo" {
  name = "demo.local"
  vpc  = var.vpc_id
}

# Peers reach each other's inbound (15006) and the forwarder (8888); 9901 is for a Prometheus inside the group.
resource "aws_security_group" "mesh" {
  name   = "demo-mesh"
  vpc_id = var.vpc_id
  ingress {
    from_port = 15006
    to_port   = 15006
    protocol  = "tcp"
    self      = true
  }
  ingress {
    from_port = 9901
    to_port   = 9901
    protocol  = "tcp"
    self      = true
  }
  ingress {
    from_port = 8888
    to_port   = 8888
    protocol  = "tcp"
    self      = true
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

locals {
  services = { caller = ["responder"], responder = [] }
  # The forwarder's certificate proves spiffe://demo/forwarder.
  identities = concat(keys(local.services), var.capture ? ["forwarder"] : [])
}

resource "aws_secretsmanager_secret" "tls" {
  for_each = toset(flatten([for s in local.identities : ["${s}/cert", "${s}/key", "${s}/ca"]]))
  name     = "demo/${each.key}"
}

module "service" {
  source                        = "../"
  for_each                      = local.services
  service_name                  = each.key
  mesh_namespace                = "demo"
  upstreams                     = each.value
  allow                         = each.key == "responder" ? ["spiffe://demo/caller"] : []
  cloudmap_namespace_id         = aws_service_discovery_private_dns_namespace.demo.id
  cloudmap_namespace_name       = aws_service_discovery_private_dns_namespace.demo.name
  region                        = var.region
  cluster_arn                   = aws_ecs_cluster.demo.arn
  subnet_ids                    = var.subnet_ids
  security_group_ids            = [aws_security_group.mesh.id]
  app_image                     = var.app_image
  hawser_image                  = var.hawser_image
  capture_forwarder             = var.capture ? module.forwarder[0].address : ""
  fis_managed_instance_role_arn = var.fis ? aws_iam_role.fis_managed_instance[0].arn : ""
  tls_secret_arns = {
    cert = aws_secretsmanager_secret.tls["${each.key}/cert"].arn
    key  = aws_secretsmanager_secret.tls["${each.key}/key"].arn
    ca   = aws_secretsmanager_secret.tls["${each.key}/ca"].arn
  }
}

resource "aws_s3_bucket" "capture" {
  count  = var.capture ? 1 : 0
  bucket = var.capture_bucket
}

module "forwarder" {
  source                  = "../forwarder"
  count                   = var.capture ? 1 : 0
  mesh_namespace          = "demo"
  cloudmap_namespace_id   = aws_service_discovery_private_dns_namespace.demo.id
  cloudmap_namespace_name = aws_service_discovery_private_dns_namespace.demo.name
  region                  = var.region
  cluster_arn             = aws_ecs_cluster.demo.arn
  subnet_ids              = var.subnet_ids
  security_group_ids      = [aws_security_group.mesh.id]
  hawser_image            = var.hawser_image
  bucket_name             = aws_s3_bucket.capture[0].bucket
  tls_secret_arns = {
    cert = aws_secretsmanager_secret.tls["forwarder/cert"].arn
    key  = aws_secretsmanager_secret.tls["forwarder/key"].arn
    ca   = aws_secretsmanager_secret.tls["forwarder/ca"].arn
  }
}

# The role SSM gives the tasks' agents once registered (ecs/fis/iam/managed-instance-*.json).
resource "aws_iam_role" "fis_managed_instance" {
  count = var.fis ? 1 : 0
  name  = "demo-fis-managed-instance"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ssm.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy_attachment" "fis_managed_instance" {
  count      = var.fis ? 1 : 0
  role       = aws_iam_role.fis_managed_instance[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy" "fis_managed_instance" {
  count = var.fis ? 1 : 0
  name  = "deregister-on-stop"
  role  = aws_iam_role.fis_managed_instance[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = ["ssm:DeleteActivation"], Resource = "*" },
      { Effect = "Allow", Action = ["ssm:DeregisterManagedInstance"], Resource = "arn:aws:ssm:${var.region}:*:managed-instance/*" },
    ]
  })
}
