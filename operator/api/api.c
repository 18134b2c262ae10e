#include <kubefed/api.h>

const kc_resource API_FEDERATIONS = {"kubefed.dev", "v1alpha1", "federations", "Federation", 1};
const kc_resource API_FEDERATEDCLUSTERS = {"kubefed.dev", "v1alpha1", "federatedclusters", "FederatedCluster", 1};
const kc_resource API_CLUSTERS = {"federation.kubefed.dev", "v1beta1", "clusters", "Cluster", 0};
