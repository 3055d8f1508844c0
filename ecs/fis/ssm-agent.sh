# The amazon-ssm-agent container that AWS FIS's aws:ecs:task-* actions need
# (cpu-stress.json): registers this task as an SSM managed instance tagged
# with its task ARN, which is how FIS finds the task, runs the agent, and
# removes the registration when the task stops. Steps as AWS documents them
# (https://docs.aws.amazon.com/fis/latest/userguide/ecs-task-actions.html).
# Needs MANAGED_INSTANCE_ROLE_NAME, and the task role's ssm:CreateActivation,
# ssm:AddTagsToResource and iam:PassRole on that role (iam/task-role-ssm.json).
set -eu
yum install -y -q jq procps awscli
if [ -z "${MANAGED_INSTANCE_ROLE_NAME:-}" ] || [ -z "${ECS_CONTAINER_METADATA_URI_V4:-}" ]; then
  echo "ssm-agent: needs MANAGED_INSTANCE_ROLE_NAME and ECS task metadata" >&2
  exit 1
fi
task=$(curl -sf "$ECS_CONTAINER_METADATA_URI_V4/task")
task_arn=$(printf '%s' "$task" | jq -e -r .TaskARN)
zone=$(printf '%s' "$task" | jq -e -r .AvailabilityZone)
region=${zone%?}
activation=$(aws ssm create-activation --region "$region" --iam-role "$MANAGED_INSTANCE_ROLE_NAME" \
  --tags "Key=ECS_TASK_ARN,Value=$task_arn" "Key=ECS_TASK_AVAILABILITY_ZONE,Value=$zone" \
  "Key=FAULT_INJECTION_SIDECAR,Value=true")
activation_id=$(printf '%s' "$activation" | jq -e -r .ActivationId)
amazon-ssm-agent -register -region "$region" -id "$activation_id" \
  -code "$(printf '%s' "$activation" | jq -e -r .ActivationCode)"
unregister() {
  aws ssm delete-activation --region "$region" --activation-id "$activation_id" || true
  instance=$(jq -r .ManagedInstanceID /var/lib/amazon/ssm/registration)
  aws ssm deregister-managed-instance --region "$region" --instance-id "$instance" || true
  kill -TERM "$agent" 2>/dev/null || true
}
trap unregister TERM INT
amazon-ssm-agent &
agent=$!
wait "$agent"
