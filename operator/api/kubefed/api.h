/* api: the kubefed.dev API as the programs see it, in one place.
 *
 * Group/versions and resources, the labels, annotations and finalizers the
 * operator, the CLI and the controller manager put on objects, and the embedded
 * federation-side Cluster CRD. A name here is part of the contract with users
 * (kubectl selectors, GitOps diffs): change it only with a migration. */
#ifndef KUBEFED_API_H
#define KUBEFED_API_H

#include <stddef.h>

#include <kf/kc.h>

#define API_GROUP_VERSION "kubefed.dev/v1alpha1"
#define API_CLUSTER_GROUP_VERSION "federation.kubefed.dev/v1beta1"

/* Host cluster: the operator's resources. Federation API: its Cluster objects. */
extern const kc_resource API_FEDERATIONS, API_FEDERATEDCLUSTERS, API_CLUSTERS;

/* Federation API and members: what the controller manager propagates (namespaces too), and the
 * namespaced kinds of it, which unjoin removes from a member that leaves (NULL-terminated). */
extern const kc_resource API_DAEMONSETS, API_INGRESSES;
extern const kc_resource API_REPLICASETS, API_STATEFULSETS, API_JOBS, API_HPAS; /* Deployments: KC_DEPLOYMENTS */
extern const kc_resource API_PODS; /* read in members: unschedulable pods of our workloads */
/* Read in members for the service-ingresses annotation (issue 16): never propagated. */
extern const kc_resource API_ENDPOINTSLICES;
extern const kc_resource *const API_PROPAGATED_NAMESPACED[];

/* Programs: each applies as itself (server-side apply field manager) and names itself in
 * User-Agent, metrics and Events. */
#define API_OPERATOR "kubefed-operator"
#define API_CLI "kubefed-cli"
#define API_EVENT_CONTROLLER "kubefed.dev/kubefed-operator"

/* Labels */
#define API_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define API_LABEL_FEDERATION "kubefed.dev/federation"
#define API_LABEL_CLUSTER "kubefed.dev/cluster"
/* On every member copy the controller manager makes: the Federation's metadata.uid (two
 * federations of one name never take each other's copies). */
#define API_LABEL_PROPAGATED_BY "kubefed.dev/propagated-by"

/* Finalizers */
#define API_FINALIZER_TEARDOWN "kubefed.dev/teardown" /* Federation */
#define API_FINALIZER_UNJOIN "kubefed.dev/unjoin"     /* FederatedCluster */

/* Annotations */
#define API_ANNOTATION_ROTATE "kubefed.dev/rotate-certificates"
#define API_ANNOTATION_ROTATED_FOR "kubefed.dev/rotated-for"
#define API_ANNOTATION_CONFIG_HASH "kubefed.dev/config-hash"
#define API_ANNOTATION_FORCE_UNJOIN "kubefed.dev/force-unjoin"
#define API_ANNOTATION_FEDERATION_NAME "federation.alpha.kubernetes.io/federation-name" /* kubefed v1 */
/* On a federation API Cluster: the label keys its FederatedCluster's spec.clusterLabels set, so a
 * key removed from the spec is seen as a difference (and removed by the next apply). */
#define API_ANNOTATION_CLUSTER_LABELS "kubefed.dev/cluster-labels"
/* On a member's kube-dns ConfigMap, + the federation name: the keys a join added, and the
 * text of keys it changed, so unjoin restores them exactly. */
#define API_ANNOTATION_CREATED_KEYS "kubefed.dev/created-keys-"
#define API_ANNOTATION_ORIGINAL_KEYS "kubefed.dev/original-"
/* + the federation name: the join created the whole kube-dns ConfigMap (GKE ships none), so the
 * unjoin deletes it when nothing else is left in it. */
#define API_ANNOTATION_CREATED_CONFIGMAP "kubefed.dev/created-configmap-"

/* crds/federation.kubefed.dev_clusters.yaml, embedded at build time, NUL-terminated. */
extern const char api_cluster_crd_yaml[];
extern const size_t api_cluster_crd_yaml_len;

#endif
