public import OspreyStore
public import OspreyTools

/// The store keeps the provenance the file tools consult (OspreyTools cannot import the store).
extension Provenance: FileProvenance {}
