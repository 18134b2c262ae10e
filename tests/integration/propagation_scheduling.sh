#!/usr/bin/env bash
# propagation.scheduling: federated workloads divided over three real members (each with its own
# kube-controller-manager, scheduler and kwok node, so ReplicaSets, Jobs and pods really appear and
# become Ready or complete) by kubefed v1's planner, and the members' status summed back (issue 15).
# Checks: 50 replicas over the two members joined first land as the planner says (25/25), and stay
# so while one member's pods start late (its kwok stopped) and the other's become ready; the
# federated status reaches 50 ready; a third member that really joins mid-test (its cluster started
# with the others) gets the Deployment with 0 replicas while `rebalance` is false (what runs stays
# where it runs) and its share once `rebalance` is true (17/16/17, v1's FNV-1 order for key
# shop/web); the 50 replicas over three members reach 50 ready, `kubectl rollout status` and
# `kubectl wait --for=condition=Available` against the federation API return; weights and
# maxReplicas are respected; a preferences annotation that does not parse is a Warning event and the
# default; a scale-down is followed; deleting the federated Deployment removes every copy. A Job with
# parallelism 9 and completions 18 runs 3/6 in each member and the federated Job gets Complete (with
# SuccessCriteriaMet, completionTime, active 0); a changed split is a Warning, not an update. An HPA
# (min 6, max 9) becomes 2..3 in each member, and the member HPAs' scale of its Deployment to their
# minReplicas is not undone; without the HPA the planner's split returns; member HPAs that have not
# scaled lend their bounds to a member placed later (v1's later passes). A member whose node is
# tainted NoSchedule overflows its share to the others once its pods have been Unschedulable for
# 60 s, not before. The Deployment splits are computed here by plan_split, a port of v1's planner
# rules (reference §4.4) independent of the C one; the Job, HPA and overflow splits (§3.8, §3.7,
# §4.4 with capacity) are worked out in the comments. Waits are generous; times are printed.
TEST=propagation.scheduling RESOURCE=federatedcluster CLUSTER=sched NODES=1 NS="sched-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBERS=(east north west)
on_finish() {
  signal_of west kwok -CONT 2>/dev/null
  signal_of east kube-controller-manager -CONT 2>/dev/null
  finish_federation "${MEMBERS[@]/%/-$$}"
}
# signal_of MEMBER COMPONENT SIGNAL: signal a process of the member's cluster (kwok makes the pods
# the scheduler placed Running and Ready: stopped, they stay Pending; kube-controller-manager
# writes the Deployment's status: stopped, the status stays as set).
signal_of() {
  local pid _
  read -r pid _ <"${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}/$1-$$/pids/$2.pid" && kill "$3" "$pid"
}

declare -A MKC
for m in "${MEMBERS[@]}"; do
  MKC[$m]=$("$HARNESS" up "$m-$$" --nodes 1) || { fail "up $m-$$"; exit 1; }
done
say "three members up"
MK() { local m=$1; shift; "$KUBECTL" --kubeconfig "${MKC[$m]}" --request-timeout=20s "$@"; }

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator
serve_federation fellowship
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fed.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" --request-timeout=20s "$@"; }
FKW() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" "$@"; } # watches: no request timeout
# east and west join now; north, up already, joins mid-test (a real join, for rebalance).
for m in east west; do join_member "$m" "${MKC[$m]}" "{env: $m}"; done
for m in east west; do wait_until "$m: Ready" 120 cond_is federatedcluster "$m" Ready "True Healthy" || exit 1; done

# split_of NAME: each member's spec.replicas of its copy of Deployment shop/NAME, as E/N/W ("-": no copy).
split_of() {
  local m got out=()
  for m in "${MEMBERS[@]}"; do
    got=$(MK "$m" get deployment -n shop "$1" -o jsonpath='{.spec.replicas}' 2>/dev/null) || got=-
    out+=("${got:--}")
  done
  local IFS=/
  echo "${out[*]}"
}
# split_is NAME E N W: that split now.
split_is() { [ "$(split_of "$1")" = "$2/$3/$4" ]; }
# check_split DESC NAME E N W: shop/NAME is split E/N/W now; on failure, what it is.
check_split() {
  local got
  got=$(split_of "$2")
  if [ "$got" = "$3/$4/$5" ]; then pass "$1"; else fail "$1 (the split is $got)"; fi
}
# timed_split DESC SECONDS NAME E N W: timed until shop/NAME is split E/N/W; on failure, what it was.
timed_split() {
  timed "$1" "$2" split_is "$3" "$4" "$5" "$6" || say "$1: the split is $(split_of "$3")"
}
fed_field() { FK get deployment -n shop web -o jsonpath="{$1}" 2>/dev/null; }
# members_settled: every member's copy has rolled out its own spec (ready = replicas = spec.replicas, observed).
members_settled() {
  local m
  for m in "${MEMBERS[@]}"; do
    MK "$m" get deployment -n shop web >/dev/null 2>&1 || continue
    MK "$m" get deployment -n shop web -o json | jq -e '(.status.readyReplicas // 0) == .spec.replicas and
      (.status.replicas // 0) == .spec.replicas and .status.observedGeneration == .metadata.generation' >/dev/null ||
      return 1
  done
}
# fed_ready N: members settled, and the federated status says N ready, available and replicas, observed.
fed_ready() {
  members_settled && FK get deployment -n shop web -o json | jq -e --argjson n "$1" '.status.readyReplicas == $n and
    .status.availableReplicas == $n and .status.replicas == $n and .status.observedGeneration == .metadata.generation'
}
show_status() { say "federated status: $(FK get deployment -n shop web -o jsonpath='{.status}' 2>&1)"; }
fed_observed() { [ "$(fed_field .status.observedGeneration)" = "$(fed_field .metadata.generation)" ]; }
event_for() { FK get events -A --field-selector "reason=$1" -o json | jq -e --arg n "$2" '.items[] | select(.regarding.name==$n or .involvedObject.name==$n)' >/dev/null; }
# timed DESC SECONDS CMD...: wait_until, and say how long it took.
timed() {
  local t=$SECONDS
  wait_until "$@" && say "$1: $((SECONDS - t)) s"
}
# fnv1 STRING: 32-bit FNV-1 (Go's fnv.New32), the planner's tie-break.
fnv1() {
  local s=$1 h=2166136261 i c
  for ((i = 0; i < ${#s}; i++)); do
    printf -v c '%d' "'${s:i:1}"
    h=$(((h * 16777619) & 0xFFFFFFFF))
    h=$((h ^ c))
  done
  echo "$h"
}
# plan_split REPLICAS KEY REBALANCE NAME:WEIGHT:MIN:MAX:CURRENT...: v1's planner (reference §4.4,
# without capacity) in bash, to check the C one against: MAX and CURRENT "-" for none. Prints each
# member's plan in the order given. Order: weight descending, then fnv1(NAME KEY) ascending; minimums;
# without rebalance the current replicas kept; then rounds of ceil(remaining * weight / total weight),
# the kept replicas consumed first, members at their max leaving the rounds.
plan_split() {
  local n=$1 key=$2 rebalance=$3 e name a b c d x u t start W D changed=1
  shift 3
  local -A w mn mx cur plan pre
  local names=() order=() open=() still=()
  for e in "$@"; do
    IFS=: read -r name a b c d <<<"$e"
    names+=("$name") w[$name]=$a mn[$name]=$b mx[$name]=$c cur[$name]=$d pre[$name]=0
  done
  mapfile -t order < <(for name in "${names[@]}"; do
    printf '%012d %012d %s\n' $((1000000000 - w[$name])) "$(fnv1 "$name$key")" "$name"
  done | sort | cut -d' ' -f3)
  for name in "${order[@]}"; do
    x=$((mn[$name] < n ? mn[$name] : n)) plan[$name]=$x n=$((n - x))
  done
  if [ "$rebalance" = false ]; then
    for name in "${order[@]}"; do
      t=${cur[$name]}
      [ "$t" != - ] && ((t > plan[$name])) || continue
      [ "${mx[$name]}" != - ] && ((t > mx[$name])) && t=${mx[$name]}
      x=$((t - plan[$name])) && ((x > n)) && x=$n
      ((x < 0)) && x=0
      plan[$name]=$((plan[$name] + x)) pre[$name]=$x n=$((n - x))
    done
  fi
  open=("${order[@]}")
  while ((changed && n > 0)); do
    changed=0 W=0 D=$n still=()
    for name in "${open[@]}"; do W=$((W + w[$name])); done
    ((W == 0)) && break
    for name in "${open[@]}"; do
      x=$(((D * w[$name] + W - 1) / W)) && ((x > n)) && x=$n
      u=$((x < pre[$name] ? x : pre[$name])) && pre[$name]=$((pre[$name] - u)) x=$((x - u))
      ((u > 0)) && changed=1
      start=${plan[$name]} t=$((plan[$name] + x))
      if [ "${mx[$name]}" != - ] && ((t > mx[$name])); then t=${mx[$name]}; else still+=("$name"); fi
      n=$((n - (t - start))) plan[$name]=$t
      ((t > start)) && changed=1
    done
    open=(${still[@]+"${still[@]}"})
  done
  for name in "${names[@]}"; do printf '%s ' "${plan[$name]}"; done
}
# expect DESC SECONDS E N W: timed until each member's copy of shop/web has that spec.replicas.
expect() { timed_split "$1: $3/$4/$5" "$2" web "$3" "$4" "$5"; }
prefs() { FK annotate --overwrite deployment -n shop web "federation.kubernetes.io/deployment-preferences=$1" >/dev/null; }

# ---- 50 replicas over the two members joined ------------------------------------------------------------------
# Plans made while the pods just placed start must not move them. v1 counted ready replicas only:
# east 13 of 25 ready and west none planned 24/26, and east then kept the 24 it ran. West's pods
# start late here (its kwok stopped); east's status says 13 ready (set, its kube-controller-manager
# stopped).
signal_of west kwok -STOP || { fail "west's kwok not stopped"; exit 1; }
FK create namespace shop >/dev/null || { fail "namespace shop refused"; exit 1; }
FK apply -f - >/dev/null <<'EOF' || { fail "federated Deployment refused"; exit 1; }
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 50
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: registry.example/web:1}]}
EOF
T=$SECONDS
# Default preferences ({"*": weight 1}) over east and west.
read -r e w <<<"$(plan_split 50 shop/web false east:1:0:-:- west:1:0:-:-)"
expect "50 replicas over east and west (planner: east $e, west $w)" 60 "$e" - "$w"
member_ready() { [ "$(MK "$1" get deployment -n shop web -o jsonpath='{.status.readyReplicas}')" = "$2" ]; }
wait_until "east: $e ready, west: its pods not started" 120 member_ready east "$e"
signal_of east kube-controller-manager -STOP || { fail "east's kube-controller-manager not stopped"; exit 1; }
MK east patch deployment -n shop web --subresource=status --type=merge \
  -p '{"status":{"readyReplicas":13,"availableReplicas":13}}' >/dev/null || fail "east's status not set"
sleep 3 # the plan that status change brings
check_split "east 13 ready, west none, 3 s later: still $e/-/$w" web "$e" - "$w"
check "west's pods not started: none ready there" member_ready west ""
signal_of east kube-controller-manager -CONT || { fail "east's kube-controller-manager not continued"; exit 1; }
signal_of west kwok -CONT || { fail "west's kwok not continued"; exit 1; }
timed "federated status: 50 ready and available, summed from the members" 240 fed_ready 50 || show_status
check "federated status: observedGeneration is the federated generation" fed_observed
say "create to 50 ready over two members: $((SECONDS - T)) s"

# ---- north joins: rebalance false keeps what runs, rebalance true moves -------------------------------------------
T=$SECONDS
join_member north "${MKC[north]}" "{env: north}"
wait_until "north: Ready" 120 cond_is federatedcluster north Ready "True Healthy" || exit 1
# v1 step 3: east and west keep the replicas they run ready; whatever is left goes by weight.
read -r e n w <<<"$(plan_split 50 shop/web false east:1:0:-:"$e" north:1:0:-:- west:1:0:-:"$w")"
expect "north joined, rebalance false: north gets the Deployment with its planned $n" 60 "$e" "$n" "$w"
say "join to north's copy: $((SECONDS - T)) s"
sleep 5
check_split "rebalance false: still $e/$n/$w five seconds later" web "$e" "$n" "$w"
prefs '{"rebalance":true}' # no clusters: nobody gets anything (v1) ...
timed_split "preferences without clusters: every member 0" 60 web 0 0 0
prefs '{"Rebalance":true,"clusters":{"*":{"Weight":1}}}' # ... field names in any case, as v1
# FNV-1 of name + "shop/web": west 0x210de9d7 < east 0x6728ea11 < north 0xe348f7bd; ceil(50/3) = 17 in
# that order: west 17, east 17, north 16.
read -r e n w <<<"$(plan_split 50 shop/web true east:1:0:-:- north:1:0:-:- west:1:0:-:-)"
check "plan_split agrees with the hand-worked 17/16/17" test "$e/$n/$w" = 17/16/17
T=$SECONDS
expect "rebalance true: 50 over three members, v1's FNV-1 order for shop/web" 60 "$e" "$n" "$w"
timed "federated status: 50 ready over three members" 240 fed_ready 50 || show_status
check "federated status: observedGeneration is the federated generation" fed_observed
check "federated status: updatedReplicas 50, unavailableReplicas 0 (omitted)" \
  test "$(fed_field .status.updatedReplicas)/$(fed_field .status.unavailableReplicas)" = "50/" # 0 is omitted
t=$SECONDS
check "kubectl rollout status against the federation API returns" FKW rollout status deployment/web -n shop --timeout=60s
say "rollout status: $((SECONDS - t)) s; three-member split to rollout complete: $((SECONDS - T)) s"
check "kubectl wait --for=condition=Available against the federation API" \
  FKW wait --for=condition=Available deployment/web -n shop --timeout=60s
check "federated status Available" \
  test "$(FK get deployment -n shop web -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True

# ---- weights and maxReplicas ----------------------------------------------------------------------------------
# Weight order east (2), then north/west (1). Round 1, W 4: east ceil(100/4) = 25, north ceil(50/4) = 13
# capped at its max 5 (full), west 13; 7 left. Round 2, W 3 (east, west): east ceil(14/3) = 5 -> 30,
# west the last 2 -> 15.
prefs '{"rebalance":true,"clusters":{"east":{"weight":2},"north":{"weight":1,"maxReplicas":5},"west":{"weight":1}}}'
read -r e n w <<<"$(plan_split 50 shop/web true east:2:0:-:- north:1:0:5:- west:1:0:-:-)"
check "plan_split agrees with the hand-worked 30/5/15" test "$e/$n/$w" = 30/5/15
expect "weights and maxReplicas" 60 "$e" "$n" "$w"
timed "federated status: 50 ready with the new split" 240 fed_ready 50 || show_status

# ---- a preferences annotation that does not parse ----------------------------------------------------------------
prefs '{"clusters":{"east":{"weight":"lots"}}}'
timed "unparsable preferences: Warning event InvalidPreferences" 30 event_for InvalidPreferences web
# The default (rebalance false) keeps what runs: 30/5/15 stays.
read -r e n w <<<"$(plan_split 50 shop/web false east:1:0:-:"$e" north:1:0:-:"$n" west:1:0:-:"$w")"
sleep 3
check_split "unparsable preferences: the default, which keeps the current split" web "$e" "$n" "$w"

# ---- scale down, then delete --------------------------------------------------------------------------------
prefs '{"rebalance":true,"clusters":{"*":{"weight":1}}}'
FK scale deployment -n shop web --replicas=1 >/dev/null
# One replica: the first in FNV-1 order for shop/web (west).
read -r e n w <<<"$(plan_split 1 shop/web true east:1:0:-:- north:1:0:-:- west:1:0:-:-)"
expect "scaled to 1" 60 "$e" "$n" "$w"
timed "federated status: 1 ready, 1 replica once the members scaled down" 120 fed_ready 1 || show_status
FK delete deployment -n shop web --wait=false >/dev/null
timed_split "deleted: no copy left in any member" 60 web - - -

# ---- a Job: parallelism 9 and completions 18 over three members, 3 and 6 each (reference §3.8) ---------------
FK apply -f - >/dev/null <<'EOF' || { fail "federated Job refused"; exit 1; }
apiVersion: batch/v1
kind: Job
metadata: {name: pi, namespace: shop}
spec:
  parallelism: 9
  completions: 18
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: registry.example/pi:1}]
EOF
T=$SECONDS
job_split() {
  local m
  for m in "${MEMBERS[@]}"; do
    MK "$m" get job -n shop pi -o json 2>/dev/null |
      jq -e '.spec.parallelism == 3 and .spec.completions == 6 and .spec.manualSelector == true' >/dev/null || return 1
  done
}
timed "Job: parallelism 3, completions 6 and manualSelector in each member" 60 job_split
fed_job_done() {
  FK get job -n shop pi -o json | jq -e '.status.succeeded == 18 and (.status.active // 0) == 0 and .status.completionTime != null
    and .status.startTime != null and ([.status.conditions[] | select(.status == "True") | .type] | sort) ==
    ["Complete", "SuccessCriteriaMet"]'
}
timed "federated Job: Complete with SuccessCriteriaMet, 18 succeeded, active 0, completionTime" 240 fed_job_done ||
  say "federated Job status: $(FK get job -n shop pi -o jsonpath='{.status}' 2>&1)"
say "Job created to federated Complete: $((SECONDS - T)) s"
check "kubectl wait --for=condition=Complete against the federation API" \
  FKW wait --for=condition=Complete job/pi -n shop --timeout=30s
# A new split for a Job that has run: completions are immutable in a member Job, so a Warning, no update.
FK annotate job -n shop pi 'federation.kubernetes.io/job-preferences={"clusters":{"east":{"weight":1}}}' >/dev/null
timed "Job split changed: Warning event ImmutableInCluster" 30 event_for ImmutableInCluster pi
check "Job split changed: member Jobs keep completions 6" job_split
check "Job split changed: the federated Job is still Complete" fed_job_done
FK delete job -n shop pi --wait=false >/dev/null
job_gone() { local m; for m in "${MEMBERS[@]}"; do ! MK "$m" get job -n shop pi >/dev/null 2>&1 || return 1; done; }
timed "Job deleted: no copy left in any member" 60 job_gone

# ---- an HPA: bounds divided in member name order (reference §3.7), its scale not undone --------------------------
FK apply -f - >/dev/null <<'YAML' || { fail "federated Deployment api / HPA refused"; exit 1; }
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  # rebalance: once the HPA is gone, its 2/2/2 is not kept (3 would then land 2/1/0)
  annotations: {federation.kubernetes.io/deployment-preferences: '{"rebalance":true,"clusters":{"*":{"weight":1}}}'}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: registry.example/api:1}]}
YAML
timed_split "Deployment api: 3 replicas, 1 per member" 60 api 1 1 1
FK apply -f - >/dev/null <<'YAML' || { fail "federated HPA refused"; exit 1; }
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 6
  maxReplicas: 9
YAML
# Three members: max in chunks of max(2, 9/3) = 3, min in chunks of max(1, 6/3) = 2: 2..3 in each.
hpa_split() {
  local m
  for m in "${MEMBERS[@]}"; do
    [ "$(MK "$m" get hpa -n shop api -o jsonpath='{.spec.minReplicas}/{.spec.maxReplicas}' 2>/dev/null)" = 2/3 ] || return 1
  done
}
timed "HPA: minReplicas 2, maxReplicas 3 in each member" 60 hpa_split
# No metrics server runs: each member's HPA controller scales its Deployment up to its minReplicas
# bound, and the federation (which planned 1 there) must leave that alone.
timed_split "member HPAs scaled api to their minReplicas: 2/2/2" 120 api 2 2 2
sleep 10
check_split "the HPA-driven scale is not undone ten seconds later: 2/2/2" api 2 2 2
FK delete hpa -n shop api >/dev/null
hpa_gone() { local m; for m in "${MEMBERS[@]}"; do ! MK "$m" get hpa -n shop api >/dev/null 2>&1 || return 1; done; }
timed "HPA deleted: gone from every member" 60 hpa_gone
timed_split "no HPA any more: the planner's 1/1/1 again" 60 api 1 1 1
FK delete deployment -n shop api --wait=false >/dev/null

# ---- an HPA's bounds lent to a member that has none yet (reference §3.7's later passes) -------------------------
# Its target exists nowhere, so no member's HPA controller can scale: their HPAs stay pristine
# (never scaled, desiredReplicas 0), which v1 counted as bounds to lend.
FK apply -f - >/dev/null <<'YAML' || { fail "federated HPA ghost refused"; exit 1; }
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ghost
  namespace: shop
  annotations: {federation.alpha.kubernetes.io/cluster-selector: '[{"key":"env","operator":"In","values":["east","west"]}]'}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}
  minReplicas: 1
  maxReplicas: 10
YAML
# ghost_bounds E N W: each member's HPA ghost has those "min/max" ("-": none).
ghost_bounds() {
  local i=0 got want=("$@")
  for m in "${MEMBERS[@]}"; do
    got=$(MK "$m" get hpa -n shop ghost -o jsonpath='{.spec.minReplicas}/{.spec.maxReplicas}' 2>/dev/null) || got=-
    [ "$got" = "${want[i]}" ] || return 1
    i=$((i + 1))
  done
}
pristine() { MK "$1" get hpa -n shop ghost -o json | jq -e '.status.lastScaleTime == null and (.status.desiredReplicas // 0) == 0' >/dev/null; }
# Two members: max in chunks of max(2, 10/2) = 5, min in chunks of 1.
timed "HPA ghost over east and west: 1/5, -, 1/5" 60 ghost_bounds 1/5 - 1/5
check "east's HPA ghost is pristine (its controller cannot scale a target that does not exist)" pristine east
FK annotate hpa -n shop ghost federation.alpha.kubernetes.io/cluster-selector- >/dev/null
# north is placed and has no HPA: east and west, pristine, lend it one max each, one by one (4/2/4;
# a first split over three would be 4/3/3). The mins (1 each) stay 1: an HPA's floor.
timed "north placed: east and west lend it a max each: 1/4, 1/2, 1/4" 60 ghost_bounds 1/4 1/2 1/4
sleep 5
check "lent bounds stay put once north has its HPA (nobody needs more): 1/4, 1/2, 1/4" ghost_bounds 1/4 1/2 1/4
FK delete hpa -n shop ghost >/dev/null

# ---- capacity: a member whose node is tainted NoSchedule overflows its share after 60 s ---------------------------
FK apply -f - >/dev/null <<'YAML' || { fail "federated Deployment cap refused"; exit 1; }
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cap
  namespace: shop
  annotations: {federation.kubernetes.io/deployment-preferences: '{"rebalance":true,"clusters":{"*":{"weight":1}}}'}
spec:
  replicas: 30
  selector: {matchLabels: {app: cap}}
  template:
    metadata: {labels: {app: cap}}
    spec: {containers: [{name: cap, image: registry.example/cap:1}]}
YAML
cap_ready() {
  FK get deployment -n shop cap -o json | jq -e --argjson n "$1" '.status.readyReplicas == $n'
}
timed_split "Deployment cap: 30 over three, 10/10/10" 60 cap 10 10 10
timed "Deployment cap: 30 ready" 120 cap_ready 30
MK east taint nodes --all kubefed.dev/test=full:NoSchedule >/dev/null || fail "taint east's node"
FK scale deployment -n shop cap --replicas=60 >/dev/null
T=$SECONDS
# 20 each; east schedules none of its 10 new pods.
timed_split "scaled to 60: 20/20/20" 60 cap 20 20 20
sleep 30
check_split "30 s later east's pending pods are not yet counted: still 20/20/20" cap 20 20 20
# After 60 s east's capacity is 20 - 10 = 10: round 1 (ceil(60/3) = 20 each) closes east at 10 with
# overflow 10; round 2 gives the 10 left to north and west, 5 each. East keeps plan 10 + overflow 10 = 20
# (its pending pods stay, v1's §4.5); north and west get 25.
timed_split "east's 10 pods Unschedulable for 60 s overflow to north and west: 20/25/25" 120 cap 20 25 25
say "scale to overflow placed: $((SECONDS - T)) s"
timed "the overflow runs: 60 ready (east 10, north 25, west 25; east's other 10 stay pending)" 120 cap_ready 60
MK east taint nodes --all kubefed.dev/test- >/dev/null
FK delete deployment -n shop cap --wait=false >/dev/null
