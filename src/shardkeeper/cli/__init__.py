"""The ``shardkeeper`` command line: thin commands over control/, worker/ and datapath/."""
