"""
The fake API server behaves like the real one for what the daemon uses.

Clients are the real ones: kubernetes-asyncio, and /usr/bin/kubectl where the
test says so. Waiting is always a poll with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock

from tests.fakekube import controller, kubectl, patching, rbac
from tests.fakekube.harness import FakeKube
from tests.fakekube.plugin import session_requests

NS = "default"
SA_USER = "system:serviceaccount:remediator:remediator"

requires_kubectl = pytest.mark.skipif(not kubectl.available(), reason="no kubectl binary")


def status_of(error: ApiException) -> dict[str, Any]:
    body = json.loads(error.body or b"{}")
    assert body["kind"] == "Status"
    return body  # type: ignore[no-any-return]


def config_map(name: str, data: dict[str, str] | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data)


def image_of(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


# --- reading, patching, the scale subresource ------------------------------------------


async def test_read_and_patch_deployment(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """A strategic merge patch of the image bumps generation and rolls out revision 2."""
    fake_kube.cluster.add_deployment(NS, "web", replicas=2, image="web:1")
    apps = client.AppsV1Api(fake_kube_api)

    before = await apps.read_namespaced_deployment("web", NS)
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}}
        }
    }
    after = await apps.patch_namespaced_deployment("web", NS, patch)

    assert before.metadata.generation == 1
    assert after.metadata.generation == 2
    assert int(after.metadata.resource_version) > int(before.metadata.resource_version)
    assert after.spec.template.spec.containers[0].image == "web:2"
    rolled = await fake_kube.cluster.wait_rolled_out(NS, "web")
    assert rolled["metadata"]["annotations"][controller.REVISION] == "2"
    assert rolled["status"]["observedGeneration"] == 2
    replicasets = fake_kube.cluster.replicasets_of(NS, "web")
    assert [rs["spec"]["replicas"] for rs in replicasets] == [0, 2]


async def test_scale_subresource_answers_a_scale(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """PATCH .../scale returns an autoscaling/v1 Scale, and the Deployment follows."""
    fake_kube.cluster.add_deployment(NS, "web", replicas=2)
    apps = client.AppsV1Api(fake_kube_api)

    scale = await apps.patch_namespaced_deployment_scale(
        "web", NS, {"spec": {"replicas": 5}}
    )
    read_back = await apps.read_namespaced_deployment_scale("web", NS)

    assert isinstance(scale, client.V1Scale)
    assert (scale.kind, scale.api_version, scale.spec.replicas) == (
        "Scale",
        "autoscaling/v1",
        5,
    )
    assert read_back.status.selector == "app=web"
    deployment = await fake_kube.cluster.wait_rolled_out(NS, "web")
    assert deployment["spec"]["replicas"] == 5
    assert deployment["status"]["availableReplicas"] == 5


async def test_replace_scale_with_stale_version_conflicts(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """PUT .../scale with an old resourceVersion is refused like any update."""
    fake_kube.cluster.add_deployment(NS, "web", replicas=2)
    apps = client.AppsV1Api(fake_kube_api)
    scale = await apps.read_namespaced_deployment_scale("web", NS)
    fake_kube.cluster.patch(
        "deploy", NS, "web", {"metadata": {"labels": {"touched": "yes"}}}
    )

    scale.spec.replicas = 4
    with pytest.raises(ApiException) as caught:
        await apps.replace_namespaced_deployment_scale("web", NS, scale)

    assert caught.value.status == 409


# --- errors ----------------------------------------------------------------------------


async def test_stale_resource_version_conflicts(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """PUT, or a patch carrying an old metadata.resourceVersion, answers 409."""
    fake_kube.cluster.add_configmap(NS, "cfg", {"a": "1"})
    core = client.CoreV1Api(fake_kube_api)
    stale = await core.read_namespaced_config_map("cfg", NS)
    await core.patch_namespaced_config_map("cfg", NS, {"data": {"a": "2"}})

    stale.data = {"a": "3"}
    with pytest.raises(ApiException) as put_error:
        await core.replace_namespaced_config_map("cfg", NS, stale)
    with pytest.raises(ApiException) as patch_error:
        await core.patch_namespaced_config_map(
            "cfg",
            NS,
            {
                "metadata": {"resourceVersion": stale.metadata.resource_version},
                "data": {"a": "4"},
            },
        )

    for error in (put_error.value, patch_error.value):
        status = status_of(error)
        assert (error.status, status["reason"]) == (409, "Conflict")
        assert status["message"] == (
            'Operation cannot be fulfilled on configmaps "cfg": the object has been'
            " modified;"
            " please apply your changes to the latest version and try again"
        )
    assert fake_kube.cluster.get("cm", NS, "cfg")["data"] == {"a": "2"}  # type: ignore[index]


async def test_create_of_existing_name_already_exists(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """A second create of one name answers 409 AlreadyExists."""
    fake_kube.cluster.add_configmap(NS, "cfg")
    core = client.CoreV1Api(fake_kube_api)

    with pytest.raises(ApiException) as caught:
        await core.create_namespaced_config_map(NS, config_map("cfg"))

    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (409, "AlreadyExists")
    assert status["message"] == 'configmaps "cfg" already exists'


async def test_missing_object_is_not_found(fake_kube_api: client.ApiClient) -> None:
    """404 carries the apiserver's message shape and details."""
    apps = client.AppsV1Api(fake_kube_api)

    with pytest.raises(ApiException) as caught:
        await apps.read_namespaced_deployment("ghost", NS)

    status = status_of(caught.value)
    assert caught.value.status == 404
    assert status["message"] == 'deployments.apps "ghost" not found'
    assert status["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}


async def test_forbidden_without_the_scale_permission(fake_kube: FakeKube) -> None:
    """A token that may patch deployments but not deployments/scale gets the real 403."""
    fake_kube.cluster.add_deployment(NS, "web")
    fake_kube.add_token("limited", user=SA_USER)
    fake_kube.cluster.auth.grant("limited", ["get", "patch"], "apps/deployments", NS)

    async with fake_kube.api_client("limited") as api:
        apps = client.AppsV1Api(api)
        await apps.patch_namespaced_deployment(
            "web", NS, {"metadata": {"labels": {"a": "b"}}}
        )
        with pytest.raises(ApiException) as caught:
            await apps.patch_namespaced_deployment_scale(
                "web", NS, {"spec": {"replicas": 3}}
            )

    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        'deployments.apps "web" is forbidden: User'
        ' "system:serviceaccount:remediator:remediator" cannot patch resource'
        ' "deployments/scale" in API group "apps" in the namespace "default"'
    )
    assert fake_kube.cluster.get("deploy", NS, "web")["spec"]["replicas"] == 1  # type: ignore[index]


async def test_unknown_token_is_unauthorized_and_reviews_use_the_table(
    fake_kube: FakeKube,
) -> None:
    """An unknown token answers 401; a SelfSubjectAccessReview answers from the table."""
    fake_kube.add_token("limited", user=SA_USER)
    fake_kube.cluster.auth.grant("limited", "patch", "apps/deployments/scale", NS)

    async with fake_kube.api_client("nobody-knows-me") as api:
        with pytest.raises(ApiException) as caught:
            await client.CoreV1Api(api).list_namespaced_config_map(NS)
    async with fake_kube.api_client("limited") as api:
        authorization = client.AuthorizationV1Api(api)
        reviews = [
            await authorization.create_self_subject_access_review(
                client.V1SelfSubjectAccessReview(
                    spec=client.V1SelfSubjectAccessReviewSpec(
                        resource_attributes=client.V1ResourceAttributes(
                            namespace=namespace,
                            verb="patch",
                            group="apps",
                            resource="deployments",
                            subresource="scale",
                        )
                    )
                )
            )
            for namespace in (NS, "kube-system")
        ]

    assert caught.value.status == 401
    assert [review.status.allowed for review in reviews] == [True, False]


async def test_invalid_objects_name_the_field(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """Negative replicas, non-string ConfigMap data and bad names answer 422 Invalid."""
    fake_kube.cluster.add_deployment(NS, "web")
    fake_kube.cluster.add_configmap(NS, "cfg")
    apps, core = client.AppsV1Api(fake_kube_api), client.CoreV1Api(fake_kube_api)

    failures = []
    for attempt in (
        apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": -1}}),
        apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": -2}}),
        core.patch_namespaced_config_map("cfg", NS, {"data": {"k": 1}}),
        core.create_namespaced_config_map(NS, config_map("Bad_Name")),
    ):
        with pytest.raises(ApiException) as caught:
            await attempt
        failures.append((caught.value.status, status_of(caught.value)))

    assert all(code == 422 and body["reason"] == "Invalid" for code, body in failures)
    messages = [body["message"] for _, body in failures]
    assert messages[0] == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1:'
        " must be greater than or equal to 0"
    )
    assert messages[1].startswith('Scale.autoscaling "web" is invalid: spec.replicas')
    assert "ConfigMap.data.k" in messages[2] and "of type string" in messages[2]
    assert messages[3].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value'
    )
    assert failures[0][1]["details"]["causes"][0]["field"] == "spec.replicas"
    assert fake_kube.cluster.get("deploy", NS, "web")["spec"]["replicas"] == 1  # type: ignore[index]


async def test_dry_run_stores_nothing(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """dryRun=All validates and returns the result, but nothing is written."""
    fake_kube.cluster.add_deployment(NS, "web", replicas=2)
    apps, core = client.AppsV1Api(fake_kube_api), client.CoreV1Api(fake_kube_api)
    version = fake_kube.cluster.store.resource_version

    created = await core.create_namespaced_config_map(
        NS, config_map("new", {"a": "1"}), dry_run="All"
    )
    scaled = await apps.patch_namespaced_deployment_scale(
        "web", NS, {"spec": {"replicas": 7}}, dry_run="All"
    )
    with pytest.raises(ApiException) as caught:
        await apps.patch_namespaced_deployment(
            "web", NS, {"spec": {"replicas": -1}}, dry_run="All"
        )

    assert created.data == {"a": "1"} and created.metadata.uid
    assert scaled.spec.replicas == 7
    assert caught.value.status == 422
    assert fake_kube.cluster.get("cm", NS, "new") is None
    assert fake_kube.cluster.get("deploy", NS, "web")["spec"]["replicas"] == 2  # type: ignore[index]
    assert fake_kube.cluster.store.resource_version == version


# --- patch formats ---------------------------------------------------------------------


async def test_strategic_merge_and_json_patch_differ(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """Strategic merge merges containers by name; merge patch replaces the list."""
    fake_kube.cluster.add_deployment(NS, "web", image="web:1", env={"A": "1", "B": "2"})
    apps = client.AppsV1Api(fake_kube_api)
    env_patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [
                                {"name": "B", "value": "3"},
                                {"name": "A", "$patch": "delete"},
                            ],
                        },
                    ]
                }
            }
        }
    }

    strategic = await apps.patch_namespaced_deployment("web", NS, env_patch)
    sidecar = {
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:1"}]}}}
    }
    merged = fake_kube.cluster.patch("deploy", NS, "web", sidecar, patch_type="merge")

    container = strategic.spec.template.spec.containers[0]
    assert container.image == "web:1"
    assert [(env.name, env.value) for env in container.env] == [("B", "3")]
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == [
        "side"
    ]


async def test_json_patch_operations(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """RFC 6902 add, replace, remove, copy, move and test, with 422 when a test fails."""
    fake_kube.cluster.add_configmap(NS, "cfg", {"a": "1", "b": "2"})
    core = client.CoreV1Api(fake_kube_api)

    patched = await core.patch_namespaced_config_map(
        "cfg",
        NS,
        [
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "add", "path": "/data/c", "value": "3"},
            {"op": "replace", "path": "/data/a", "value": "10"},
            {"op": "remove", "path": "/data/b"},
            {"op": "copy", "from": "/data/c", "path": "/data/d"},
            {"op": "move", "from": "/data/c", "path": "/data/e"},
        ],
    )
    with pytest.raises(ApiException) as caught:
        await core.patch_namespaced_config_map(
            "cfg", NS, [{"op": "test", "path": "/data/a", "value": "nope"}]
        )

    assert patched.data == {"a": "10", "d": "3", "e": "3"}
    assert caught.value.status == 422
    assert "test failed" in status_of(caught.value)["details"]["causes"][0]["message"]


def test_json_patch_pointers_escape_and_index() -> None:
    """~1 and ~0 escape / and ~; "-" appends; indexes insert."""
    doc = {"metadata": {"annotations": {"a/b": "1"}}, "list": [1, 3]}

    result = patching.json_patch(
        doc,
        [
            {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
            {"op": "add", "path": "/metadata/annotations/c~0d", "value": "3"},
            {"op": "add", "path": "/list/1", "value": 2},
            {"op": "add", "path": "/list/-", "value": 4},
        ],
    )

    assert result == {
        "metadata": {"annotations": {"a/b": "2", "c~d": "3"}},
        "list": [1, 2, 3, 4],
    }


def test_strategic_merge_directives() -> None:
    """$patch: replace, $retainKeys, $deleteFromPrimitiveList and null deletes."""
    original = {
        "metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
        "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "selector": {"matchLabels": {"app": "x"}},
        },
    }
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"y": None}},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "selector": {"$patch": "replace", "matchLabels": {"app": "y"}},
        },
    }

    result = patching.strategic_merge(original, patch)

    assert result == {
        "metadata": {"finalizers": ["b"], "labels": {"x": "1"}},
        "spec": {
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": "y"}},
        },
    }


async def test_unknown_patch_type_is_unsupported(fake_kube: FakeKube) -> None:
    """A patch with an unknown Content-Type answers 415."""
    fake_kube.cluster.add_configmap(NS, "cfg")
    headers = {
        "Authorization": f"Bearer {fake_kube.token}",
        "Content-Type": "application/apply-patch+yaml",
    }

    async with (
        aiohttp.ClientSession() as session,
        session.patch(
            f"{fake_kube.url}/api/v1/namespaces/{NS}/configmaps/cfg",
            data=b"{}",
            headers=headers,
        ) as response,
    ):
        body = await response.json()

    assert (response.status, body["reason"]) == (415, "UnsupportedMediaType")


async def test_raw_wire_format_of_watch_delete_and_wrong_methods(
    fake_kube: FakeKube,
) -> None:
    """watch=1 streams JSON lines; DELETE answers Success then 404; a bad method 405."""
    fake_kube.cluster.add_configmap(NS, "cfg")
    base = f"{fake_kube.url}/api/v1/namespaces/{NS}/configmaps"
    headers = {"Authorization": f"Bearer {fake_kube.token}"}

    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(
            base, params={"watch": "1", "timeoutSeconds": "1"}
        ) as stream:
            lines = [json.loads(line) async for line in stream.content if line.strip()]
        async with session.delete(f"{base}/cfg") as deleted:
            deleted_body = await deleted.json()
        async with session.get(f"{base}/cfg") as missing:
            missing_status = missing.status
        async with session.post(f"{base}/cfg", json={}) as wrong:
            wrong_body = await wrong.json()

    assert [(line["type"], line["object"]["metadata"]["name"]) for line in lines] == [
        ("ADDED", "cfg")
    ]
    assert lines[0]["object"]["kind"] == "ConfigMap"
    assert (deleted.status, deleted_body["status"]) == (200, "Success")
    assert missing_status == 404
    assert (wrong.status, wrong_body["reason"]) == (405, "MethodNotAllowed")


async def test_event_field_selectors(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """Events can be listed by involvedObject.name and reason, as on a real cluster."""
    for name, reason in (("web", "Remediated"), ("db", "Remediated"), ("web", "Skipped")):
        fake_kube.cluster.create(
            "Event",
            {
                "metadata": {"generateName": f"{name}.", "namespace": NS},
                "involvedObject": {"kind": "Deployment", "name": name, "namespace": NS},
                "reason": reason,
            },
        )
    core = client.CoreV1Api(fake_kube_api)

    found = await core.list_namespaced_event(
        NS, field_selector="involvedObject.name=web,reason=Remediated"
    )

    assert [(e.involved_object.name, e.reason) for e in found.items] == [
        ("web", "Remediated")
    ]


# --- watches and the controller --------------------------------------------------------


async def test_watch_streams_a_rollout_to_completion(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """kubernetes-asyncio's Watch sees the new revision progress and complete."""
    fake_kube.cluster.add_deployment(NS, "web", replicas=3, image="web:1")
    fake_kube.cluster.set_rollout_delay(0.05)
    apps = client.AppsV1Api(fake_kube_api)
    start = await apps.read_namespaced_deployment("web", NS)
    fake_kube.cluster.patch(
        "deploy",
        NS,
        "web",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}}
            }
        },
        patch_type="strategic",
    )

    seen: list[tuple[int, int, int]] = []
    async with watch.Watch().stream(
        apps.list_namespaced_deployment,
        NS,
        field_selector="metadata.name=web",
        resource_version=start.metadata.resource_version,
        timeout_seconds=20,
    ) as stream:
        async for event in stream:
            assert event["type"] == "MODIFIED"
            status = event["object"].status
            seen.append(
                (
                    status.updated_replicas or 0,
                    status.replicas or 0,
                    status.available_replicas or 0,
                )
            )
            if fake_kube.cluster.rolled_out(NS, "web") and seen[-1] == (3, 3, 3):
                break

    assert seen[-1] == (3, 3, 3)
    assert any(updated < 3 or total > 3 for updated, total, _ in seen[:-1])


async def test_watch_replays_from_a_version_and_honours_its_timeout(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """A watch from resourceVersion N replays later events; it ends at timeoutSeconds."""
    version = fake_kube.cluster.store.resource_version
    fake_kube.cluster.add_configmap(NS, "one", labels={"team": "a"})
    fake_kube.cluster.add_configmap(NS, "two", labels={"team": "b"})
    core = client.CoreV1Api(fake_kube_api)

    events = []
    async for event in watch.Watch().stream(
        core.list_namespaced_config_map,
        NS,
        label_selector="team=b",
        resource_version=version,
        timeout_seconds=1,
    ):
        events.append((event["type"], event["object"].metadata.name))

    assert events == [("ADDED", "two")]


async def test_watch_reports_objects_entering_and_leaving_a_selector(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """Relabelling into a watched selector is ADDED, out of it DELETED."""
    cluster = fake_kube.cluster
    cluster.add_configmap(NS, "cfg", labels={"team": "a"})
    version = cluster.store.resource_version
    cluster.patch("cm", NS, "cfg", {"metadata": {"labels": {"team": "b"}}})
    cluster.patch("cm", NS, "cfg", {"data": {"k": "v"}})
    cluster.patch("cm", NS, "cfg", {"metadata": {"labels": {"team": "c"}}})
    core = client.CoreV1Api(fake_kube_api)

    seen = [
        event["type"]
        async for event in watch.Watch().stream(
            core.list_namespaced_config_map,
            NS,
            label_selector="team=b",
            resource_version=version,
            timeout_seconds=1,
        )
    ]

    assert seen == ["ADDED", "MODIFIED", "DELETED"]


async def test_rollback_reuses_the_old_replicaset(fake_kube: FakeKube) -> None:
    """An old template coming back gives its ReplicaSet the next revision, as in k8s."""
    cluster = fake_kube.cluster
    cluster.add_deployment(NS, "web", replicas=2, images=["web:1", "web:2", "web:3"])
    first = cluster.replicasets_of(NS, "web")
    old_template = controller.without_hash(first[1]["spec"]["template"])

    cluster.patch(
        "deploy",
        NS,
        "web",
        [
            {"op": "replace", "path": "/spec/template", "value": old_template},
        ],
        patch_type="json",
    )
    await cluster.wait_rolled_out(NS, "web")

    after = {rs["metadata"]["name"]: rs for rs in cluster.replicasets_of(NS, "web")}
    reused = after[first[1]["metadata"]["name"]]
    assert len(after) == 3
    assert reused["metadata"]["annotations"][controller.REVISION] == "4"
    assert reused["metadata"]["annotations"][controller.REVISION_HISTORY] == "2"
    assert reused["spec"]["replicas"] == 2
    assert [rs["spec"]["replicas"] for rs in after.values() if rs is not reused] == [0, 0]
    deployment = cluster.get("deploy", NS, "web")
    assert deployment["metadata"]["annotations"][controller.REVISION] == "4"  # type: ignore[index]


async def test_paused_deployment_does_not_roll_out(fake_kube: FakeKube) -> None:
    """spec.paused keeps the old ReplicaSet; resuming rolls the new template out."""
    cluster = fake_kube.cluster
    cluster.add_deployment(NS, "web", replicas=2, image="web:1", paused=True)
    cluster.patch(
        "deploy",
        NS,
        "web",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}}
            }
        },
        patch_type="strategic",
    )

    paused = await cluster.wait_for(
        lambda: (
            (d := cluster.get("deploy", NS, "web"))
            and d["status"].get("observedGeneration") == 2
            and d
        ),
        what="the paused deployment to be observed",
    )
    assert len(cluster.replicasets_of(NS, "web")) == 1
    progressing = [
        c for c in paused["status"]["conditions"] if c["type"] == "Progressing"
    ]
    assert progressing[0]["reason"] == "DeploymentPaused"

    cluster.patch("deploy", NS, "web", {"spec": {"paused": False}})
    done = await cluster.wait_rolled_out(NS, "web")
    assert image_of(done) == "web:2"
    assert len(cluster.replicasets_of(NS, "web")) == 2


async def test_hung_rollout_stays_in_progress_until_released(fake_kube: FakeKube) -> None:
    """While rollouts hang, new pods never get ready and old ones stay; until released."""
    cluster = fake_kube.cluster
    cluster.add_deployment(NS, "web", replicas=2, image="web:1")
    cluster.hang_rollouts(namespace=NS, name="web")
    cluster.patch(
        "deploy",
        NS,
        "web",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}}
            }
        },
        patch_type="strategic",
    )

    stuck = await cluster.wait_for(
        lambda: (
            (d := cluster.get("deploy", NS, "web"))
            and d["status"].get("observedGeneration") == 2
            and d["status"].get("updatedReplicas") == 2
            and d
        ),
        what="the new ReplicaSet's pods to exist",
    )
    assert stuck["status"]["replicas"] == 4  # old pods stay until new ones are ready
    assert stuck["status"]["availableReplicas"] == 2
    assert cluster.rolled_out(NS, "web") is None

    cluster.hang_rollouts(False, namespace=NS, name="web")
    done = await cluster.wait_rolled_out(NS, "web")
    assert done["status"]["replicas"] == 2


@pytest.mark.fake_kube(hang_rollouts=True)
async def test_progress_deadline_is_reported(fake_kube: FakeKube) -> None:
    """No progress within progressDeadlineSeconds gives ProgressDeadlineExceeded."""
    cluster = fake_kube.cluster
    cluster.add_deployment(NS, "web", replicas=1, progress_deadline_seconds=1)
    cluster.patch(
        "deploy",
        NS,
        "web",
        {"spec": {"template": {"metadata": {"annotations": {"restart": "1"}}}}},
        patch_type="strategic",
    )

    def timed_out() -> bool:
        deployment = cluster.get("deploy", NS, "web")
        conditions = (deployment or {}).get("status", {}).get("conditions", [])
        return any(c["reason"] == "ProgressDeadlineExceeded" for c in conditions)

    assert await cluster.wait_for(
        timed_out, timeout_seconds=15, what="the progress deadline"
    )


# --- faults ----------------------------------------------------------------------------


async def test_faults_error_every_nth_and_throttle(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """Every 2nd get answers 503; a throttle answers 429 with Retry-After."""
    fake_kube.cluster.add_configmap(NS, "cfg")
    core = client.CoreV1Api(fake_kube_api)
    unavailable = fake_kube.faults.inject(
        "error", verb="get", resource="configmaps", every=2
    )

    outcomes = []
    for _ in range(4):
        try:
            await core.read_namespaced_config_map("cfg", NS)
            outcomes.append(200)
        except ApiException as error:
            outcomes.append(error.status)
    fake_kube.faults.remove(unavailable)
    fake_kube.faults.inject("throttle", verb="list", retry_after=7, times=1)
    with pytest.raises(ApiException) as throttled:
        await core.list_namespaced_config_map(NS)
    await core.list_namespaced_config_map(NS)  # times=1: the next one passes

    assert outcomes == [200, 503, 200, 503]
    assert unavailable.fired == 2
    assert throttled.value.status == 429
    assert throttled.value.headers is not None
    assert throttled.value.headers["Retry-After"] == "7"
    assert status_of(throttled.value)["details"]["retryAfterSeconds"] == 7


async def test_faults_fraction_is_reproducible_with_a_seed(fake_kube: FakeKube) -> None:
    """The same seed fails the same requests in two servers."""
    runs = []
    for _ in range(2):
        async with FakeKube() as fake:
            fake.cluster.add_configmap(NS, "cfg")
            fake.faults.inject("error", status=500, fraction=0.5, seed=42)
            async with fake.api_client() as api:
                core = client.CoreV1Api(api)
                outcomes = []
                for _ in range(20):
                    try:
                        await core.read_namespaced_config_map("cfg", NS)
                        outcomes.append(True)
                    except ApiException as error:
                        assert error.status == 500
                        outcomes.append(False)
            runs.append(outcomes)

    assert runs[0] == runs[1]
    assert 0 < runs[0].count(False) < 20


async def test_faults_drop_latency_and_conflicts(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """A dropped connection is a client error; latency delays; forced conflicts: 409."""
    fake_kube.cluster.add_configmap(NS, "cfg")
    core = client.CoreV1Api(fake_kube_api)
    # aiohttp retries an idempotent request once on a dropped connection.
    dropped = fake_kube.faults.inject("drop", verb="get")
    slow = fake_kube.faults.inject("latency", verb="list", delay=0.2, times=1)
    fake_kube.faults.conflict_next_writes(1)

    with pytest.raises(aiohttp.ClientError):
        await core.read_namespaced_config_map("cfg", NS)
    fake_kube.faults.remove(dropped)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await core.list_namespaced_config_map(NS)
    elapsed = loop.time() - started
    with pytest.raises(ApiException) as conflict:
        await core.patch_namespaced_config_map("cfg", NS, {"data": {"a": "1"}})
    await core.patch_namespaced_config_map("cfg", NS, {"data": {"a": "1"}})

    assert dropped.fired >= 1
    assert slow.fired == 1 and elapsed >= 0.2
    assert conflict.value.status == 409
    assert fake_kube.cluster.get("cm", NS, "cfg")["data"] == {"a": "1"}  # type: ignore[index]


async def test_fault_drop_after_the_write_lands(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """drop_after applies the write, then loses the answer."""
    fake_kube.cluster.add_configmap(NS, "cfg", {"a": "1"})
    core = client.CoreV1Api(fake_kube_api)
    lost = fake_kube.faults.inject("drop_after", verb="patch", times=1)

    with pytest.raises(aiohttp.ClientError):
        await core.patch_namespaced_config_map("cfg", NS, {"data": {"a": "2"}})

    assert lost.fired == 1
    assert fake_kube.cluster.get("cm", NS, "cfg")["data"] == {"a": "2"}  # type: ignore[index]


# --- other resources -------------------------------------------------------------------


async def test_lease_lock_create_get_update(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """kubernetes-asyncio's LeaseLock (create, then replace) works against the fake."""
    lock = LeaseLock("remediator", NS, "pod-a", fake_kube_api)
    record = LeaderElectionRecord(
        "pod-a", "15", "2025-01-01 10:00:00.000000", "2025-01-01 10:00:00.000000"
    )

    created = await lock.create("remediator", NS, record)
    found, _ = await lock.get("remediator", NS)
    record.renew_time = "2025-01-01 10:00:05.000000"
    updated = await lock.update("remediator", NS, record)
    found_again, latest = await lock.get("remediator", NS)

    assert (created, found, updated, found_again) == (True, True, True, True)
    assert isinstance(latest, LeaderElectionRecord)
    assert latest.holder_identity == "pod-a"
    lease = fake_kube.cluster.get("Lease", NS, "remediator")
    assert lease["spec"]["renewTime"] == "2025-01-01T10:00:05.000000Z"  # type: ignore[index]


async def test_events_and_hpas(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """Events are created and listed; HPAs validate min/max replicas."""
    fake_kube.cluster.add_hpa(NS, "web", target="web", min_replicas=2, max_replicas=5)
    core = client.CoreV1Api(fake_kube_api)
    autoscaling = client.AutoscalingV2Api(fake_kube_api)

    await core.create_namespaced_event(
        NS,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name="web."),
            involved_object=client.V1ObjectReference(
                kind="Deployment", name="web", namespace=NS
            ),
            reason="Remediated",
            message="scaled web to 3",
            type="Normal",
        ),
    )
    events = await core.list_namespaced_event(NS)
    hpa = await autoscaling.read_namespaced_horizontal_pod_autoscaler("web", NS)
    with pytest.raises(ApiException) as caught:
        await autoscaling.patch_namespaced_horizontal_pod_autoscaler(
            "web", NS, {"spec": {"maxReplicas": 1}}
        )

    assert [event.reason for event in events.items] == ["Remediated"]
    assert events.items[0].metadata.name.startswith("web.")
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 5)
    assert caught.value.status == 422
    assert "spec.maxReplicas" in status_of(caught.value)["message"]


async def test_list_selectors(
    fake_kube: FakeKube, fake_kube_api: client.ApiClient
) -> None:
    """labelSelector (equality and set forms) and fieldSelector metadata.name filter."""
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        fake_kube.cluster.add_configmap(NS, name, labels={"tier": tier})
    core = client.CoreV1Api(fake_kube_api)

    web = await core.list_namespaced_config_map(NS, label_selector="tier=web")
    not_web = await core.list_namespaced_config_map(NS, label_selector="tier notin (web)")
    by_name = await core.list_namespaced_config_map(NS, field_selector="metadata.name=b")

    assert [cm.metadata.name for cm in web.items] == ["a", "b"]
    assert [cm.metadata.name for cm in not_web.items] == ["c"]
    assert [cm.metadata.name for cm in by_name.items] == ["b"]
    assert web.metadata.resource_version == fake_kube.cluster.store.resource_version


# --- the request log and RBAC ----------------------------------------------------------


async def test_requests_are_recorded_with_kubernetes_verbs(fake_kube: FakeKube) -> None:
    """Each request is logged as an RBAC attribute set, also in the session-wide set."""
    fake_kube.cluster.add_deployment(NS, "web")
    role_rules = [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]},
    ]
    fake_kube.add_token("role-token", user=SA_USER, role_rules=role_rules, namespace=NS)

    async with fake_kube.api_client("role-token") as api:
        apps = client.AppsV1Api(api)
        await apps.read_namespaced_deployment("web", NS)
        await apps.list_namespaced_deployment(NS)
        await apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 2}})
        with pytest.raises(ApiException):
            await client.CoreV1Api(api).list_namespaced_config_map(NS)

    used = fake_kube.cluster.used_permissions(user=SA_USER)
    assert used == {
        ("get", "apps", "deployments", NS),
        ("list", "apps", "deployments", NS),
        ("patch", "apps", "deployments/scale", NS),
        ("list", "", "configmaps", NS),
    }
    record = rbac.RequestRecord(
        "patch",
        "apps",
        "deployments/scale",
        NS,
        "web",
        SA_USER,
        fake_kube.requests[2].user_agent,
    )
    assert record in session_requests()


async def test_kubeconfig_works_with_load_kube_config(fake_kube: FakeKube) -> None:
    """The fixture's kubeconfig (TLS with its CA inlined) works with load_kube_config."""
    fake_kube.cluster.add_configmap(NS, "cfg", {"a": "1"})
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(fake_kube.kubeconfig_path), client_configuration=configuration
    )

    async with client.ApiClient(configuration) as api:
        found = await client.CoreV1Api(api).read_namespaced_config_map("cfg", NS)

    assert found.data == {"a": "1"}


# --- the real kubectl ------------------------------------------------------------------


@requires_kubectl
async def test_kubectl_scale_and_get_jsonpath(fake_kube: FakeKube) -> None:
    """kubectl scale patches the scale subresource; get -o jsonpath reads it back."""
    fake_kube.cluster.add_deployment(NS, "x", replicas=1)

    (await fake_kube.kubectl("scale", "deployment", "x", "--replicas=3")).check()
    printed = (
        await fake_kube.kubectl("get", "deploy", "x", "-o", "jsonpath={.spec.replicas}")
    ).check()

    assert printed.stdout == "3"
    assert (await fake_kube.cluster.wait_rolled_out(NS, "x"))["status"][
        "readyReplicas"
    ] == 3


@requires_kubectl
async def test_kubectl_rollout_undo_goes_to_the_previous_revision(
    fake_kube: FakeKube,
) -> None:
    """kubectl rollout undo finds the owned ReplicaSets and restores the previous one."""
    fake_kube.cluster.add_deployment(NS, "x", replicas=2, images=["x:1", "x:2"])

    result = (await fake_kube.kubectl("rollout", "undo", "deployment", "x")).check()

    assert "rolled back" in result.stdout
    done = await fake_kube.cluster.wait_rolled_out(NS, "x")
    assert image_of(done) == "x:1"
    assert done["metadata"]["annotations"][controller.REVISION] == "3"
    assert len(fake_kube.cluster.replicasets_of(NS, "x")) == 2


@requires_kubectl
async def test_kubectl_rollout_restart_and_status(fake_kube: FakeKube) -> None:
    """rollout status watches a hung rollout and succeeds once it is released."""
    cluster = fake_kube.cluster
    cluster.add_deployment(NS, "x", replicas=2)
    cluster.hang_rollouts(namespace=NS, name="x")

    (await fake_kube.kubectl("rollout", "restart", "deployment", "x")).check()
    status_run = asyncio.create_task(
        fake_kube.kubectl("rollout", "status", "deployment", "x", "--timeout=20s")
    )
    await cluster.wait_for(
        lambda: any("watch=true" in entry.path for entry in cluster.access_log),
        timeout_seconds=20,
        what="kubectl to start watching",
    )
    assert not status_run.done()
    cluster.hang_rollouts(False, namespace=NS, name="x")
    result = (await status_run).check()

    assert 'deployment "x" successfully rolled out' in result.stdout
    template = cluster.get("deploy", NS, "x")["spec"]["template"]  # type: ignore[index]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    assert len(cluster.replicasets_of(NS, "x")) == 2


@requires_kubectl
async def test_kubectl_patch_configmap(fake_kube: FakeKube) -> None:
    """kubectl patch --type=merge and the default strategic patch both apply."""
    fake_kube.cluster.add_configmap(NS, "cfg", {"a": "1"})

    (
        await fake_kube.kubectl(
            "patch",
            "configmap",
            "cfg",
            "--type=merge",
            "-p",
            '{"data":{"k":"v","a":null}}',
        )
    ).check()
    (await fake_kube.kubectl("patch", "cm", "cfg", "-p", '{"data":{"s":"t"}}')).check()

    assert fake_kube.cluster.get("cm", NS, "cfg")["data"] == {"k": "v", "s": "t"}  # type: ignore[index]


@requires_kubectl
async def test_kubectl_with_a_restricted_token(fake_kube: FakeKube) -> None:
    """kubectl over TLS sends the token; a missing grant gives the real 403 message."""
    if fake_kube.https_url is None:
        pytest.skip("no openssl: kubectl reaches the fake without credentials")
    fake_kube.cluster.add_deployment(NS, "x")
    fake_kube.add_token("kubectl-limited", user=SA_USER)
    fake_kube.cluster.auth.grant("kubectl-limited", "get", "apps/deployments", NS)

    result = await fake_kube.kubectl(
        "scale", "deployment", "x", "--replicas=3", token="kubectl-limited"
    )
    can_i = await fake_kube.kubectl(
        "auth", "can-i", "get", "deployments", token="kubectl-limited"
    )

    assert result.returncode == 1
    assert (
        'User "system:serviceaccount:remediator:remediator" cannot patch resource'
        ' "deployments/scale" in API group "apps" in the namespace "default"'
    ) in result.stderr
    assert can_i.stdout.strip() == "yes"
