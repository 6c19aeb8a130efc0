"""One module per node role (node_app/role.py is the interface, node_app/registry.py picks
one).

stage: pipeline stage (baseline, and node B of Cao's strategies); helping: Cao's strategies
1 and 2 at node A; router: data parallelism's entry; adaptive: the adaptive strategy's entry
(issue 13); fanout: model parallelism's entry and its slice nodes; merge: the merging sink;
sink: the plain sink; task_gateway / task_helper: task sharing; tile_gateway / tile_helper:
FTP work sharing; steal_gateway / steal_device: FTP work stealing; band_gateway /
band_helper: MoDNN's BODP (all on the task board). Roles import node_app.role /
node_app.node and core modules, never the server or the registry; a role may build on a
sibling (merge -> sink, fanout -> stage, task_helper -> task_gateway's LONG_POLL_S,
band_helper -> band_gateway's Bands), never the other way round, so node_app stays acyclic.
"""
