#include <kubefed/api.h>

const kc_resource API_FEDERATIONS = {"kubefed.dev", "v1alpha1", "federations", "Federation", 1};
const kc_resource API_FEDERATEDCLUSTERS = {"kubefed.dev", "v1alpha1", "federatedclusters", "FederatedCluster", 1};
const kc_resource API_CLUSTERS = {"federation.kubefed.dev", "v1beta1", "clusters", "Cluster", 0};
const kc_resource API_DAEMONSETS = {"apps", "v1", "daemonsets", "DaemonSet", 1};
const kc_resource API_INGRESSES = {"networking.k8s.io", "v1", "ingresses", "Ingress", 1};
const kc_resource API_ENDPOINTSLICES = {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", 1};
const kc_resource API_REPLICASETS = {"apps", "v1", "replicasets", "ReplicaSet", 1};
const kc_resource API_STATEFULSETS = {"apps", "v1", "statefulsets", "StatefulSet", 1};
const kc_resource API_PODS = {"", "v1", "pods", "Pod", 1};
const kc_resource API_JOBS = {"batch", "v1", "jobs", "Job", 1};
const kc_resource API_HPAS = {"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", 1};

const kc_resource *const API_PROPAGATED_NAMESPACED[] = {&KC_CONFIGMAPS,  &KC_SECRETS,      &KC_SERVICEACCOUNTS,
                                                        &API_DAEMONSETS, &API_INGRESSES,   &KC_SERVICES,
                                                        &KC_DEPLOYMENTS, &API_REPLICASETS, &API_STATEFULSETS,
                                                        &API_JOBS,       &API_HPAS,        NULL};
