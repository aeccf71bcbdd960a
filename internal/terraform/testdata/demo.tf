terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the target groups"
}

variable "subnet_ids" {
  type        = list(string)
  description = "subnets of the tasks (awsvpc)"
}

variable "security_group_ids" {
  type        = list(string)
  description = "security groups of the tasks and database instances"
}

variable "listener_arn" {
  type        = string
  description = "load balancer listener that gets a rule per app host"
}

variable "lb_dns_name" {
  type        = string
  description = "DNS name of the load balancer"
}

variable "lb_zone_id" {
  type        = string
  description = "canonical hosted zone of the load balancer"
}

variable "zone_id" {
  type        = string
  description = "Route 53 hosted zone of the app hosts"
}

variable "cluster_arn" {
  type        = string
  description = "ECS cluster"
}

variable "execution_role_arn" {
  type        = string
  description = "ECS task execution role"
}

variable "log_group" {
  type        = string
  description = "CloudWatch Logs group of the pod's containers"
  default     = "/spacepods/demo"
}

variable "db_instance_class" {
  type        = string
  description = "class of the pod's database instances"
  default     = "db.t4g.micro"
}

variable "db_subnet_group" {
  type        = string
  description = "DB subnet group of the pod's database instances"
}

variable "region" {
  type        = string
  description = "region of the log group"
}

variable "rule_priority_base" {
  type        = number
  description = "the pod's listener rules take the priorities after this one"
  default     = 1000
}

resource "aws_lb_target_group" "catalog-api" {
  name_prefix = "sp-"
  port        = 8080
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path = "/healthz"
  }
  tags = {
    "spacepods.app"         = "catalog-api"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "42"
    "spacepods.role"        = "web"
    "spacepods.service"     = "catalog-api"
  }
}

resource "aws_lb_listener_rule" "catalog-api" {
  listener_arn = var.listener_arn
  priority     = var.rule_priority_base + 1
  action {
    type = "forward"
    forward {
      target_group {
        arn    = aws_lb_target_group.catalog-api.arn
        weight = 1
      }
    }
  }
  condition {
    host_header {
      values = ["catalog-api.demo.pods.example.com"]
    }
  }
  tags = {
    "spacepods.app"         = "catalog-api"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "42"
    "spacepods.role"        = "web"
    "spacepods.service"     = "catalog-api"
  }
}

resource "aws_route53_record" "catalog-api" {
  zone_id = var.zone_id
  name    = "catalog-api.demo.pods.example.com"
  type    = "A"
  alias {
    name                   = var.lb_dns_name
    zone_id                = var.lb_zone_id
    evaluate_target_health = true
  }
}

resource "aws_db_instance" "catalog-api" {
  identifier             = "sp-demo-catalog-api-35c42f91"
  snapshot_identifier    = "staging-2026-12-01"
  instance_class         = var.db_instance_class
  db_subnet_group_name   = var.db_subnet_group
  vpc_security_group_ids = var.security_group_ids
  publicly_accessible    = false
  skip_final_snapshot    = true
  tags = {
    "spacepods.app"         = "catalog-api"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "42"
    "spacepods.role"        = "web"
    "spacepods.service"     = "catalog-api"
  }
}

resource "aws_ecs_task_definition" "catalog-api" {
  family                   = "demo_catalog-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = var.execution_role_arn
  container_definitions = jsonencode([{
    "environment" = [{
      name  = "GREETING"
      value = "say \"hi\""
      }, {
      name  = "LOG_LEVEL"
      value = "info"
    }]
    "essential" = true
    "image"     = "registry.internal/catalog-api:42"
    "logConfiguration" = {
      "logDriver" = "awslogs"
      "options" = {
        "awslogs-group"         = var.log_group
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "catalog-api"
      }
    }
    "name" = "app"
    "portMappings" = [{
      containerPort = 8080
      protocol      = "tcp"
    }]
    "secrets" = [{
      name      = "API_TOKEN"
      valueFrom = "/spacepods/apps/catalog-api/pods/API_TOKEN"
    }]
  }])
  tags = {
    "spacepods.app"         = "catalog-api"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "42"
    "spacepods.role"        = "web"
    "spacepods.service"     = "catalog-api"
  }
}

resource "aws_ecs_service" "catalog-api" {
  name                               = "demo_catalog-api"
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.catalog-api.arn
  desired_count                      = 1
  launch_type                        = "FARGATE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets         = var.subnet_ids
    security_groups = var.security_group_ids
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.catalog-api.arn
    container_name   = "app"
    container_port   = 8080
  }
  propagate_tags = "SERVICE"
  tags = {
    "spacepods.app"         = "catalog-api"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "42"
    "spacepods.role"        = "web"
    "spacepods.service"     = "catalog-api"
  }
}

resource "aws_lb_target_group" "storefront" {
  name_prefix = "sp-"
  port        = 3000
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path = "/"
  }
  tags = {
    "spacepods.app"         = "storefront"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "7"
    "spacepods.role"        = "web"
    "spacepods.service"     = "storefront"
  }
}

resource "aws_lb_listener_rule" "storefront" {
  listener_arn = var.listener_arn
  priority     = var.rule_priority_base + 2
  action {
    type = "forward"
    forward {
      target_group {
        arn    = aws_lb_target_group.storefront.arn
        weight = 1
      }
    }
  }
  condition {
    host_header {
      values = ["storefront.demo.pods.example.com"]
    }
  }
  tags = {
    "spacepods.app"         = "storefront"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "7"
    "spacepods.role"        = "web"
    "spacepods.service"     = "storefront"
  }
}

resource "aws_route53_record" "storefront" {
  zone_id = var.zone_id
  name    = "storefront.demo.pods.example.com"
  type    = "A"
  alias {
    name                   = var.lb_dns_name
    zone_id                = var.lb_zone_id
    evaluate_target_health = true
  }
}

resource "aws_ecs_task_definition" "storefront" {
  family                   = "demo_storefront"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = var.execution_role_arn
  container_definitions = jsonencode([{
    "command"   = ["serve", "--port=3000"]
    "essential" = true
    "image"     = "registry.internal/storefront:7"
    "logConfiguration" = {
      "logDriver" = "awslogs"
      "options" = {
        "awslogs-group"         = var.log_group
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "storefront"
      }
    }
    "name" = "app"
    "portMappings" = [{
      containerPort = 3000
      protocol      = "tcp"
    }]
  }])
  tags = {
    "spacepods.app"         = "storefront"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "7"
    "spacepods.role"        = "web"
    "spacepods.service"     = "storefront"
  }
}

resource "aws_ecs_service" "storefront" {
  name                               = "demo_storefront"
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.storefront.arn
  desired_count                      = 2
  launch_type                        = "FARGATE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets         = var.subnet_ids
    security_groups = var.security_group_ids
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.storefront.arn
    container_name   = "app"
    container_port   = 3000
  }
  propagate_tags = "SERVICE"
  tags = {
    "spacepods.app"         = "storefront"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "7"
    "spacepods.role"        = "web"
    "spacepods.service"     = "storefront"
  }
}

resource "aws_ecs_task_definition" "mailer" {
  family                   = "demo_mailer"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = var.execution_role_arn
  container_definitions = jsonencode([{
    "entryPoint" = ["/mailer", "run"]
    "essential"  = true
    "image"      = "registry.internal/mailer:3"
    "logConfiguration" = {
      "logDriver" = "awslogs"
      "options" = {
        "awslogs-group"         = var.log_group
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "mailer"
      }
    }
    "name" = "app"
  }])
  tags = {
    "spacepods.app"         = "mailer"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "3"
    "spacepods.role"        = "worker"
    "spacepods.service"     = "mailer"
  }
}

resource "aws_ecs_service" "mailer" {
  name                               = "demo_mailer"
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.mailer.arn
  desired_count                      = 1
  launch_type                        = "FARGATE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets         = var.subnet_ids
    security_groups = var.security_group_ids
  }
  propagate_tags = "SERVICE"
  tags = {
    "spacepods.app"         = "mailer"
    "spacepods.environment" = "demo"
    "spacepods.managed"     = "true"
    "spacepods.release"     = "3"
    "spacepods.role"        = "worker"
    "spacepods.service"     = "mailer"
  }
}

