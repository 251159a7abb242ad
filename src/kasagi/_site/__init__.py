"""The start-up directory of a node's processes (its ``sitecustomize``)."""
