"""`nocontact mailroom`: the scanner side. Envelope images are read here (OCR), outside the
gateway's serving process, and screened through the gateway's HTTP API like any other client.
The OCR libraries are imported only when an engine is opened, so importing this package (the
command line does) costs nothing."""
