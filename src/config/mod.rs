//! Configuration: schema of `config.yaml`, loading and validation with file:line:column errors.
