"""What the installed package needs to run the Crossbar node. A checkout runs the node's
sessions from its top-level ``components/`` (the room service) and ``router/`` (the
router-side sessions and hooks), which ``.crossbar/config.json`` names; the wheel carries copies
of them here, as ``kasagi._node.components`` and ``kasagi._node.router``, and the node's files
(``data/``: the config template and the web pages), all copied in when the wheel is built
(``setup.py``). The node's JSON log formatter (:mod:`kasagi._node.jsonlog`) lives here in both."""
