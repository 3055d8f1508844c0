"""A schema check of Kubernetes manifests, offline.

kubectl's "client-side" validation downloads the OpenAPI schema from an API
server, so it cannot run without a cluster. This checks a manifest against the
Kubernetes API models of Debian's python3-kubernetes instead (generated from
Kubernetes' OpenAPI; 22.6 = Kubernetes 1.22): every field must exist in its
type, have that type's shape, and required fields must be there (the models'
own client-side validation, which also checks enum values). The Prometheus
Operator's ServiceMonitor is not in those models; the fields the chart uses are
written out below from its CRD.

    errors = validate(doc)     # [] when the manifest is valid
"""

import re
import sys

try:
    import kubernetes.client.models as models
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")  # Debian's package under pyenv's python
    import kubernetes.client.models as models

_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PORT_NAME = re.compile(r"(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")  # IANA_SVC_NAME, 15 at most

# monitoring.coreos.com/v1 ServiceMonitor, the fields of its CRD the chart may set.
# A dict is an object type; {"list": T} a list of T; keys ending in "!" are required.
SERVICE_MONITOR = {
    "apiVersion!": "str", "kind!": "str", "metadata!": "V1ObjectMeta",
    "spec!": {
        "selector!": "V1LabelSelector", "jobLabel": "str", "targetLabels": "list[str]",
        "namespaceSelector": {"any": "bool", "matchNames": "list[str]"},
        "endpoints": {"list": {"port": "str", "targetPort": "object", "path": "str", "scheme": "str",
                               "interval": "str", "scrapeTimeout": "str", "honorLabels": "bool"}},
    },
}


def _model(api_version, kind):
    version = api_version.rpartition("/")[2]
    return getattr(models, version[:1].upper() + version[1:] + kind, None)


def validate(doc):
    if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
        return ["not a Kubernetes object (apiVersion and kind are required)"]
    errors = []
    if (doc["apiVersion"], doc["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor"):
        _check(doc, SERVICE_MONITOR, doc["kind"], errors)
    else:
        cls = _model(doc["apiVersion"], doc["kind"])
        if cls is None:
            return ["%s %s: no such type in the Kubernetes API" % (doc["apiVersion"], doc["kind"])]
        _check(doc, cls.__name__, doc["kind"], errors)
    name = (doc.get("metadata") or {}).get("name", "")
    if len(name) > 63 or not _DNS1123.match(name):
        errors.append("%s metadata.name %r: not a DNS-1123 name of at most 63 characters" % (doc["kind"], name))
    _check_port_names(doc, doc["kind"], errors)
    return errors


def _check(value, typ, path, errors):
    if isinstance(typ, dict):
        if "list" in typ and len(typ) == 1:
            if not isinstance(value, list):
                return errors.append("%s: expected a list" % path)
            for i, item in enumerate(value):
                _check(item, typ["list"], "%s[%d]" % (path, i), errors)
            return
        if not isinstance(value, dict):
            return errors.append("%s: expected an object" % path)
        fields = {k.rstrip("!"): t for k, t in typ.items()}
        for k in (k.rstrip("!") for k in typ if k.endswith("!")):
            if k not in value:
                errors.append("%s.%s: required" % (path, k))
        for k, v in value.items():
            if k not in fields:
                errors.append("%s.%s: unknown field" % (path, k))
            else:
                _check(v, fields[k], "%s.%s" % (path, k), errors)
        return
    if typ.startswith("list["):
        return _check(value, {"list": typ[5:-1]}, path, errors)
    if typ.startswith("dict("):
        if not isinstance(value, dict):
            return errors.append("%s: expected a mapping" % path)
        for k, v in value.items():
            _check(v, typ[5:-1].split(", ", 1)[1], "%s.%s" % (path, k), errors)
        return
    scalar = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "date": str}
    if typ == "object":
        return
    if typ in scalar:
        if not isinstance(value, scalar[typ]) or (typ in ("int", "float") and isinstance(value, bool)):
            errors.append("%s: expected %s, got %r" % (path, typ, value))
        return
    cls = getattr(models, typ)
    if not isinstance(value, dict):
        return errors.append("%s: expected an object (%s)" % (path, typ))
    attrs = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in attrs:
            errors.append("%s.%s: unknown field of %s" % (path, k, typ))
        else:
            _check(v, cls.openapi_types[attrs[k]], "%s.%s" % (path, k), errors)
    try:  # the model's own validation: required fields and enum values
        cls(**{attrs[k]: v for k, v in value.items() if k in attrs})
    except ValueError as e:
        errors.append("%s: %s" % (path, e))


def _check_port_names(doc, path, errors):
    """Container and Service port names must be IANA service names (the API server refuses others)."""
    def walk(node):
        if isinstance(node, dict):
            for p in node.get("ports") or []:
                name = p.get("name") if isinstance(p, dict) else None
                if name is not None and (len(name) > 15 or not _PORT_NAME.match(name)):
                    errors.append("%s: port name %r: at most 15 of a-z, 0-9, '-'" % (path, name))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
