# A NixOS module for the Osprey gateway: the same hardened, Type=notify service `osprey service install` writes,
# with config.toml generated from `services.osprey.settings` (its options mirror config.toml's tables).
#
#   imports = [ ./nix/module.nix ];
#   services.osprey = {
#     enable = true;
#     package = osprey;   # a derivation with bin/osprey and bin/osprey-jail (a `swift build -c release` output)
#     settings = {
#       gateway.port = 18470;
#       agents.default = { model = "anthropic/claude-sonnet-4-5"; tools = [ "read_file" "list_dir" ]; };
#       backup = { schedule = "0 3 * * *"; keep_daily = 7; keep_weekly = 4; };
#     };
#     environmentFile = "/run/secrets/osprey.env";   # ANTHROPIC_API_KEY=..., read by ${env:...} references
#   };
#
# Secrets never go into `settings` (the Nix store is world-readable): reference them as "${env:NAME}" from the
# environment file or "${secret:NAME}" from the home's secret store (`osprey secrets set`).
{ config, lib, pkgs, ... }:

let
  cfg = config.services.osprey;
  toml = pkgs.formats.toml { };
  configFile = toml.generate "osprey-config.toml" cfg.settings;
in
{
  options.services.osprey = {
    enable = lib.mkEnableOption "the Osprey agent gateway";

    package = lib.mkOption {
      type = lib.types.package;
      description = "The Osprey build: bin/osprey and bin/osprey-jail (built with `swift build -c release`).";
    };

    home = lib.mkOption {
      type = lib.types.path;
      default = "/var/lib/osprey";
      description = "The Osprey home: the ledger, secrets, memory, workspace. The only path the service may write.";
    };

    user = lib.mkOption {
      type = lib.types.str;
      default = "osprey";
      description = "The user the gateway runs as (created when it is the default).";
    };

    group = lib.mkOption {
      type = lib.types.str;
      default = "osprey";
      description = "The gateway's group.";
    };

    settings = lib.mkOption {
      type = toml.type;
      default = { };
      description = ''
        config.toml as Nix values: `gateway`, `providers` (a list of tables), `agents.<name>`, `sandbox`, `memory`,
        `host`, `resources`, `backup`, `mcp_servers`, `channels`, ... exactly as the README's configuration
        reference names them. Copied over the home's config.toml at every start.
      '';
    };

    environmentFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      description = "A file of NAME=value lines (API keys) the gateway reads; settings refer to them as \${env:NAME}.";
    };

    memoryMax = lib.mkOption {
      type = lib.types.str;
      default = "2G";
      description = "The service's memory limit (systemd MemoryMax).";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the gateway's port (only useful with settings.gateway.allow_remote = true).";
    };
  };

  config = lib.mkIf cfg.enable {
    users.users = lib.mkIf (cfg.user == "osprey") {
      osprey = {
        isSystemUser = true;
        group = cfg.group;
        home = cfg.home;
      };
    };
    users.groups = lib.mkIf (cfg.group == "osprey") { osprey = { }; };

    # bubblewrap sandboxes every command an agent runs; it needs unprivileged user namespaces.
    security.unprivilegedUsernsClone = lib.mkDefault true;

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ (cfg.settings.gateway.port or 18470) ];

    systemd.tmpfiles.rules = [ "d ${cfg.home} 0700 ${cfg.user} ${cfg.group} - -" ];

    systemd.services.osprey = {
      description = "Osprey agent gateway";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      path = [ pkgs.bubblewrap pkgs.util-linux pkgs.git pkgs.curl ];
      # A regular file, not a link into the store: the gateway refuses to edit (or switch) through a link.
      preStart = ''
        install -m 0600 ${configFile} ${cfg.home}/config.toml
      '';
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${cfg.package}/bin/osprey gateway --home ${cfg.home}";
        User = cfg.user;
        Group = cfg.group;
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;
        Restart = "on-failure";
        RestartSec = 2;
        WatchdogSec = 30;
        TimeoutStopSec = 30;
        # The same confinement as `osprey service install`.
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = "read-only";
        ReadWritePaths = [ cfg.home ];
        PrivateTmp = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectClock = true;
        LockPersonality = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "@mount unshare setns pivot_root" ];
        MemoryMax = cfg.memoryMax;
        LimitNOFILE = 65536;
      };
    };
  };
}
