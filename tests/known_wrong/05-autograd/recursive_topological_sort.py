"""A recursive topological sort (micrograd's build_topo): correct on small graphs, but every level of the graph takes a frame of Python's call stack, so graphs deeper than about 1,000 nodes (a sum() of 1,000 Values, a long chain) raise RecursionError. Keep the nodes still to visit in an explicit stack (a Python list) and loop until it is empty."""


def topological_order(root):
    order, visited = [], set()

    def build(node):  # BUG: recursion, one call stack frame per level of the graph
        if id(node) in visited:
            return
        visited.add(id(node))
        for child in node._prev:
            build(child)
        order.append(node)

    build(root)
    return order
