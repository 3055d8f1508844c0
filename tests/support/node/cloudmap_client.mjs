// A real AWS client for hawser's Cloud Map tests: the AWS SDK for JavaScript v3
// (@aws-sdk/client-servicediscovery), pointed at a fixed endpoint with static
// credentials, all from the environment:
//
//   CLOUDMAP_ENDPOINT   http://127.0.0.1:PORT (required)
//   AWS_REGION          default us-east-1
//   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
//
// Usage:
//   node cloudmap_client.mjs call <Operation> '<json input>'
//       one call; prints {"ok":true,"output":{...}} or
//       {"ok":false,"name":"ServiceNotFound","status":404,"message":"..."}
//   node cloudmap_client.mjs flow <namespace> <service>
//       the whole lifecycle (create namespace + poll GetOperation, create
//       service, register 3 instances, discover, update health, deregister);
//       prints one JSON report {"steps": {...}} with what each step returned.
// Exit code 0 unless the script itself failed (API errors are reported, not thrown,
// in `call` mode).
import * as sd from "@aws-sdk/client-servicediscovery";

const endpoint = process.env.CLOUDMAP_ENDPOINT;
if (!endpoint) {
  console.error("CLOUDMAP_ENDPOINT is required");
  process.exit(2);
}
const client = new sd.ServiceDiscoveryClient({
  endpoint,
  region: process.env.AWS_REGION || "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID || "AKIDEXAMPLE",
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || "secret",
    sessionToken: process.env.AWS_SESSION_TOKEN || undefined,
  },
  maxAttempts: 1,
  // The SDK prepends the model's "data-" host prefix for DiscoverInstances*
  // even to an overridden endpoint (data-127.0.0.1 would not resolve);
  // a local registry serves every operation on one address.
  disableHostPrefix: true,
});

function clean(output) {
  const { $metadata, ...rest } = output;
  return rest;
}

async function call(op, input) {
  const Command = sd[`${op}Command`];
  if (!Command) throw new Error(`unknown operation ${op}`);
  try {
    const output = await client.send(new Command(input));
    return { ok: true, output: clean(output) };
  } catch (e) {
    return {
      ok: false,
      name: e.name,
      status: e.$metadata?.httpStatusCode ?? null,
      message: e.message,
      fault: e.$fault ?? null,
    };
  }
}

async function must(op, input) {
  const r = await call(op, input);
  if (!r.ok) throw new Error(`${op} failed: ${r.name} (${r.status}): ${r.message}`);
  return r.output;
}

async function flow(namespaceName, serviceName) {
  const steps = {};
  const created = await must("CreateHttpNamespace", { Name: namespaceName, CreatorRequestId: `ns-${namespaceName}` });
  // Namespace creation is asynchronous in the real API: poll the operation.
  let operation;
  const deadline = Date.now() + 10000;
  for (;;) {
    operation = (await must("GetOperation", { OperationId: created.OperationId })).Operation;
    if (operation.Status === "SUCCESS" || operation.Status === "FAIL") break;
    if (Date.now() > deadline) throw new Error("GetOperation never finished");
    await new Promise((r) => setTimeout(r, 100));
  }
  steps.operation = { status: operation.Status, type: operation.Type, targets: operation.Targets };
  const namespaceId = operation.Targets.NAMESPACE;
  steps.namespaces = (await must("ListNamespaces", {})).Namespaces.map((n) => ({ Id: n.Id, Name: n.Name, Type: n.Type }));

  const service = (
    await must("CreateService", {
      Name: serviceName,
      NamespaceId: namespaceId,
      HealthCheckCustomConfig: {},
      Description: "created by the AWS SDK for JavaScript v3",
    })
  ).Service;
  steps.service = { Id: service.Id, Arn: service.Arn, Name: service.Name, NamespaceId: service.NamespaceId };
  steps.get_service = (await must("GetService", { Id: service.Id })).Service.Name;
  steps.services = (
    await must("ListServices", { Filters: [{ Name: "NAMESPACE_ID", Values: [namespaceId], Condition: "EQ" }] })
  ).Services.map((s) => s.Name);

  const revisions = [];
  revisions.push((await must("DiscoverInstancesRevision", { NamespaceName: namespaceName, ServiceName: serviceName })).InstancesRevision);
  for (let i = 1; i <= 3; i++) {
    await must("RegisterInstance", {
      ServiceId: service.Id,
      InstanceId: `i-${i}`,
      Attributes: {
        AWS_INSTANCE_IPV4: `127.0.0.${i}`,
        AWS_INSTANCE_PORT: String(8080 + i),
        version: i === 3 ? "v2" : "v1",
        AVAILABILITY_ZONE: `us-east-1${"abc"[i - 1]}`,
      },
    });
  }
  revisions.push((await must("DiscoverInstancesRevision", { NamespaceName: namespaceName, ServiceName: serviceName })).InstancesRevision);
  const discovered = await must("DiscoverInstances", { NamespaceName: namespaceName, ServiceName: serviceName, HealthStatus: "ALL" });
  steps.discovered = discovered.Instances.map((i) => ({ InstanceId: i.InstanceId, HealthStatus: i.HealthStatus, Attributes: i.Attributes }));
  steps.query_v2 = (
    await must("DiscoverInstances", { NamespaceName: namespaceName, ServiceName: serviceName, QueryParameters: { version: "v2" } })
  ).Instances.map((i) => i.InstanceId);

  await must("UpdateInstanceCustomHealthStatus", { ServiceId: service.Id, InstanceId: "i-2", Status: "UNHEALTHY" });
  steps.health = (await must("GetInstancesHealthStatus", { ServiceId: service.Id })).Status;
  steps.healthy = (
    await must("DiscoverInstances", { NamespaceName: namespaceName, ServiceName: serviceName, HealthStatus: "HEALTHY" })
  ).Instances.map((i) => i.InstanceId);
  steps.unhealthy = (
    await must("DiscoverInstances", { NamespaceName: namespaceName, ServiceName: serviceName, HealthStatus: "UNHEALTHY" })
  ).Instances.map((i) => i.InstanceId);
  revisions.push((await must("DiscoverInstancesRevision", { NamespaceName: namespaceName, ServiceName: serviceName })).InstancesRevision);

  await must("DeregisterInstance", { ServiceId: service.Id, InstanceId: "i-1" });
  const after = await must("DiscoverInstances", { NamespaceName: namespaceName, ServiceName: serviceName, HealthStatus: "ALL" });
  steps.after_deregister = after.Instances.map((i) => i.InstanceId);
  revisions.push(after.InstancesRevision);
  steps.revisions = revisions;
  return { steps };
}

const [mode, ...args] = process.argv.slice(2);
try {
  let result;
  if (mode === "call") result = await call(args[0], JSON.parse(args[1] || "{}"));
  else if (mode === "flow") result = await flow(args[0], args[1]);
  else throw new Error("usage: cloudmap_client.mjs call OP JSON | flow NAMESPACE SERVICE");
  process.stdout.write(JSON.stringify(result) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, script_error: String(e && e.stack ? e.stack : e) }) + "\n");
  process.exit(1);
}
