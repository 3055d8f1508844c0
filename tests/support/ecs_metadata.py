"""A fake Amazon ECS task metadata endpoint, version 4, as a Fargate task sees it.

hawser reads `${ECS_CONTAINER_METADATA_URI_V4}` (this container's metadata) and
`${ECS_CONTAINER_METADATA_URI_V4}/task` (the task's, with every container) to describe
itself, e.g. as OpenTelemetry resource attributes. The documents follow the shapes in
AWS's "task metadata v4 JSON response for tasks on Fargate" and its examples: a
Cluster ARN, a long TaskARN (task/CLUSTER/ID), Revision as a string, LaunchType FARGATE,
DockerId as the task id, a dash and ten digits, awslogs LogOptions.

    ecs = EcsMetadata(cluster="demo").start()
    self.addCleanup(ecs.stop)
    env = {"ECS_CONTAINER_METADATA_URI_V4": ecs.uri}
    ... ecs.task["TaskARN"], ecs.container["ContainerARN"], ecs.count("/task") ...

`container` and `task` are plain dicts served as JSON on every request, so a test may
edit them (drop a key, change LaunchType). `fail_status = 500` makes every request fail.
Any other path is 404. Only the standard library.
"""

import hashlib
import http.server
import json
import threading
import uuid
import zlib

LOOPBACK = "127.0.0.1"


class EcsMetadata:
    def __init__(self, region="us-west-2", account="111122223333", cluster="demo", family="demo-app",
                 revision="7", container_name="hawser", other_containers=("app",), task_id=None,
                 availability_zone=None, launch_type="FARGATE", service_name=None, log_group=None):
        self.region, self.account = region, account
        self.task_id = task_id or hashlib.md5(("%s/%s" % (cluster, family)).encode()).hexdigest()
        self.cluster_arn = "arn:aws:ecs:%s:%s:cluster/%s" % (region, account, cluster)
        self.task_arn = "arn:aws:ecs:%s:%s:task/%s/%s" % (region, account, cluster, self.task_id)
        self.fail_status = None
        self.port = None
        self._counts = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

        def container(name):
            docker_id = "%s-%010d" % (self.task_id, zlib.crc32(name.encode()))
            return {
                "DockerId": docker_id,
                "Name": name,
                "DockerName": name,
                "Image": "%s.dkr.ecr.%s.amazonaws.com/%s:latest" % (account, region, name),
                "ImageID": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
                "Labels": {
                    "com.amazonaws.ecs.cluster": self.cluster_arn,
                    "com.amazonaws.ecs.container-name": name,
                    "com.amazonaws.ecs.task-arn": self.task_arn,
                    "com.amazonaws.ecs.task-definition-family": family,
                    "com.amazonaws.ecs.task-definition-version": revision,
                },
                "DesiredStatus": "RUNNING",
                "KnownStatus": "RUNNING",
                "Limits": {"CPU": 2},
                "CreatedAt": "2024-04-25T17:38:31.073208914Z",
                "StartedAt": "2024-04-25T17:38:31.073208914Z",
                "Type": "NORMAL",
                # Loopback, not a VPC address: nothing a test runs may send traffic elsewhere.
                "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": [LOOPBACK], "AttachmentIndex": 0}],
                "ClockDrift": {"ClockErrorBound": 0.5, "ReferenceTimestamp": "2024-04-25T17:38:00Z",
                               "ClockSynchronizationStatus": "SYNCHRONIZED"},
                "ContainerARN": "arn:aws:ecs:%s:%s:container/%s/%s/%s" % (
                    region, account, cluster, self.task_id, uuid.uuid5(uuid.NAMESPACE_URL, docker_id)),
                "LogDriver": "awslogs",
                "LogOptions": {
                    "awslogs-create-group": "true",
                    "awslogs-group": log_group or "/ecs/%s" % family,
                    "awslogs-region": region,
                    "awslogs-stream": "ecs/%s/%s" % (name, self.task_id),
                },
            }

        self.container = container(container_name)
        self.task = {
            "Cluster": self.cluster_arn,
            "TaskARN": self.task_arn,
            "Family": family,
            "Revision": revision,
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
            "Limits": {"CPU": 0.25, "Memory": 512},
            "PullStartedAt": "2024-04-25T17:38:20.053330955Z",
            "PullStoppedAt": "2024-04-25T17:38:29.592684631Z",
            "AvailabilityZone": availability_zone or region + "a",
            "LaunchType": launch_type,
            "Containers": [self.container] + [container(n) for n in other_containers],
        }
        if service_name:
            self.task["ServiceName"] = service_name

    @property
    def uri(self):
        """The value of ECS_CONTAINER_METADATA_URI_V4."""
        return "http://%s:%d/v4/%s" % (LOOPBACK, self.port, self.container["DockerId"])

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                with fake._lock:
                    fake._counts[path] = fake._counts.get(path, 0) + 1
                base = "/v4/" + fake.container["DockerId"]
                doc = {base: fake.container, base + "/task": fake.task}.get(path)
                status = fake.fail_status or (200 if doc is not None else 404)
                body = json.dumps(doc).encode() if status == 200 else b'{"error":"not found"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ecs-metadata", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def count(self, suffix=""):
        """Requests for `uri + suffix` ("" the container document, "/task" the task's)."""
        with self._lock:
            return self._counts.get("/v4/%s%s" % (self.container["DockerId"], suffix), 0)

    def counts(self):
        """{path: requests} for every path asked for, known or not."""
        with self._lock:
            return dict(self._counts)
