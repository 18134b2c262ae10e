/* kc: what needs no client: the resources the runtime names, reading fields of a JSON object by a
 * dotted path, and the API's time format. */
#include <kf/kc.h>

#include <string.h>
#include <sys/time.h>
#include <time.h>

const kc_resource KC_NAMESPACES = {"", "v1", "namespaces", "Namespace", 0};
const kc_resource KC_CONFIGMAPS = {"", "v1", "configmaps", "ConfigMap", 1};
const kc_resource KC_SECRETS = {"", "v1", "secrets", "Secret", 1};
const kc_resource KC_SERVICES = {"", "v1", "services", "Service", 1};
const kc_resource KC_SERVICEACCOUNTS = {"", "v1", "serviceaccounts", "ServiceAccount", 1};
const kc_resource KC_PVCS = {"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", 1};
const kc_resource KC_PVS = {"", "v1", "persistentvolumes", "PersistentVolume", 0};
const kc_resource KC_NODES = {"", "v1", "nodes", "Node", 0};
const kc_resource KC_DEPLOYMENTS = {"apps", "v1", "deployments", "Deployment", 1};
const kc_resource KC_LEASES = {"coordination.k8s.io", "v1", "leases", "Lease", 1};
const kc_resource KC_EVENTS = {"events.k8s.io", "v1", "events", "Event", 1};
const kc_resource KC_ROLES = {"rbac.authorization.k8s.io", "v1", "roles", "Role", 1};
const kc_resource KC_ROLEBINDINGS = {"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", 1};
const kc_resource KC_CLUSTERROLES = {"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", 0};
const kc_resource KC_CLUSTERROLEBINDINGS = {"rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                                            "ClusterRoleBinding", 0};
const kc_resource KC_CRDS = {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", 0};

json_object *kc_obj_get(json_object *obj, const char *path) {
  char key[256];
  const char *p = path;
  while (obj && *p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n >= sizeof(key)) return NULL;
    memcpy(key, p, n);
    key[n] = '\0';
    if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &obj)) return NULL;
    p += n + (dot ? 1 : 0);
  }
  return obj;
}

const char *kc_obj_str(json_object *obj, const char *path) {
  json_object *v = kc_obj_get(obj, path);
  return (v && json_object_is_type(v, json_type_string)) ? json_object_get_string(v) : NULL;
}

const char *kc_obj_key_str(json_object *obj, const char *key) {
  json_object *v = NULL;
  if (!obj || !json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v)) return NULL;
  return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

char *kc_micro_time_now(void) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  return kf_asprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
}

int kc_has_finalizer(json_object *obj, const char *finalizer) {
  json_object *fins = kc_obj_get(obj, "metadata.finalizers");
  for (size_t i = 0; fins && i < json_object_array_length(fins); i++)
    if (kf_streq(json_object_get_string(json_object_array_get_idx(fins, i)), finalizer)) return 1;
  return 0;
}
