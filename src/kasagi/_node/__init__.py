"""What the Crossbar node runs, named in its config (``.crossbar/config.json``): the room
service session (:mod:`kasagi._node.components`) and the router-side sessions and hooks
(:mod:`kasagi._node.router`). An installed package also holds the node's files here
(``data/``: the config template and the web pages, copied in when the wheel is built)."""
