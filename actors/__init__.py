"""Actors: each module holds a pure core (state + ``on_<message>`` handlers returning what to
send) and a thin shell that a dispatcher host feeds (see ``actors.runtime.host.host``)."""
