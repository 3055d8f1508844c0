# A meshed pair from an empty account (docs/deploy-ecs.md): a cluster, a Cloud
# Map namespace, the certificate secrets, and two services, caller calling
# responder over mutual TLS. Networking comes from variables (the default VPC
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

# Peers reach each other's inbound (15006); 9901 is for a Prometheus inside the group.
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
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

locals {
  services = { caller = ["responder"], responder = [] }
}

resource "aws_secretsmanager_secret" "tls" {
  for_each = toset(flatten([for s in keys(local.services) : ["${s}/cert", "${s}/key", "${s}/ca"]]))
  name     = "demo/${each.key}"
}

module "service" {
  source                  = "../"
  for_each                = local.services
  service_name            = each.key
  mesh_namespace          = "demo"
  upstreams               = each.value
  allow                   = each.key == "responder" ? ["spiffe://demo/caller"] : []
  cloudmap_namespace_id   = aws_service_discovery_private_dns_namespace.demo.id
  cloudmap_namespace_name = aws_service_discovery_private_dns_namespace.demo.name
  region                  = var.region
  cluster_arn             = aws_ecs_cluster.demo.arn
  subnet_ids              = var.subnet_ids
  security_group_ids      = [aws_security_group.mesh.id]
  app_image               = var.app_image
  hawser_image            = var.hawser_image
  tls_secret_arns = {
    cert = aws_secretsmanager_secret.tls["${each.key}/cert"].arn
    key  = aws_secretsmanager_secret.tls["${each.key}/key"].arn
    ca   = aws_secretsmanager_secret.tls["${each.key}/ca"].arn
  }
}
