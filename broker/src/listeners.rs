//! Kafka-style listeners: `listeners`, `advertised.listeners` and
//! `listener.security.protocol.map` parsed into one [`Listener`] per name — where it binds,
//! what it advertises in Metadata, and which security protocol it speaks.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::Context;

/// `security.protocol` of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    Plaintext,
    /// TLS; a client certificate (if asked for) names the principal.
    Ssl,
    /// SASL authentication without TLS.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// From Kafka's name.
    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        match name {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections are wrapped in TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether clients must authenticate with SASL before anything else.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The listener name (`PLAINTEXT`, `SASL_SSL`, or a mapped name such as `EXTERNAL`).
    pub name: String,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// Where it binds.
    pub bind: SocketAddr,
    /// The host Metadata gives clients that connected to it.
    pub advertised_host: String,
    /// The port Metadata gives them.
    pub advertised_port: i32,
}

/// `NAME://host:port` entries of a `listeners`-style list, in order.
fn entries(list: &str, setting: &str) -> anyhow::Result<Vec<(String, String, u16)>> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, address) = entry
                .split_once("://")
                .with_context(|| format!("{setting}: {entry:?} is not NAME://host:port"))?;
            let (host, port) = address
                .rsplit_once(':')
                .with_context(|| format!("{setting}: {entry:?} has no port"))?;
            let port: u16 = port
                .parse()
                .with_context(|| format!("{setting}: {entry:?} has a bad port"))?;
            anyhow::ensure!(
                !name.is_empty(),
                "{setting}: {entry:?} has no listener name"
            );
            Ok((
                name.to_string(),
                host.trim_matches(['[', ']']).to_string(),
                port,
            ))
        })
        .collect()
}

/// `NAME:PROTOCOL` pairs of `listener.security.protocol.map`; by default each of the four
/// protocol names maps to itself (Kafka's default).
fn protocol_map(map: Option<&str>) -> anyhow::Result<BTreeMap<String, SecurityProtocol>> {
    let mut out: BTreeMap<String, SecurityProtocol> =
        ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
            .iter()
            .filter_map(|n| SecurityProtocol::parse(n).map(|p| (n.to_string(), p)))
            .collect();
    if let Some(map) = map {
        out.clear();
        for pair in map.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, protocol) = pair.split_once(':').with_context(|| {
                format!("listener_security_protocol_map: {pair:?} is not NAME:PROTOCOL")
            })?;
            let protocol = SecurityProtocol::parse(protocol).with_context(|| {
                format!("listener_security_protocol_map: unknown security protocol {protocol:?}")
            })?;
            out.insert(name.to_string(), protocol);
        }
    }
    Ok(out)
}

/// Resolves the listeners. `listeners` (`NAME://host:port,…`) defaults to one `PLAINTEXT`
/// listener on `default_bind` advertising `default_advertised`; `advertised` gives the
/// address of some names (the others advertise where they bind).
pub fn resolve(
    listeners: Option<&str>,
    advertised: Option<&str>,
    map: Option<&str>,
    default_bind: SocketAddr,
    default_advertised: (String, i32),
) -> anyhow::Result<Vec<Listener>> {
    let protocols = protocol_map(map)?;
    let Some(list) = listeners else {
        return Ok(vec![Listener {
            name: "PLAINTEXT".into(),
            protocol: SecurityProtocol::Plaintext,
            bind: default_bind,
            advertised_host: default_advertised.0,
            advertised_port: default_advertised.1,
        }]);
    };
    let advertised: BTreeMap<String, (String, u16)> = match advertised {
        Some(list) => entries(list, "advertised_listeners")?
            .into_iter()
            .map(|(name, host, port)| (name, (host, port)))
            .collect(),
        None => BTreeMap::new(),
    };
    let mut out: Vec<Listener> = Vec::new();
    for (name, host, port) in entries(list, "listeners")? {
        anyhow::ensure!(
            out.iter().all(|l| l.name != name),
            "listeners: {name} is listed twice"
        );
        let protocol = *protocols.get(&name).with_context(|| {
            format!("listeners: {name} has no security protocol (listener_security_protocol_map)")
        })?;
        let bind_host = if host.is_empty() { "0.0.0.0" } else { &host };
        let bind = (bind_host, port)
            .to_socket_addrs()
            .with_context(|| format!("listeners: cannot resolve {host}:{port}"))?
            .next()
            .with_context(|| format!("listeners: {host}:{port} resolves to nothing"))?;
        let (advertised_host, advertised_port) = match advertised.get(&name) {
            Some((h, p)) => (h.clone(), i32::from(*p)),
            None if bind.ip().is_unspecified() => (
                std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
                i32::from(port),
            ),
            None => (bind_host.to_string(), i32::from(port)),
        };
        out.push(Listener {
            name,
            protocol,
            bind,
            advertised_host,
            advertised_port,
        });
    }
    anyhow::ensure!(!out.is_empty(), "listeners: no listener given");
    if let Some(unknown) = advertised
        .keys()
        .find(|n| out.iter().all(|l| &l.name != *n))
    {
        anyhow::bail!("advertised_listeners: {unknown} is not one of the listeners");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> (SocketAddr, (String, i32)) {
        (
            "127.0.0.1:9092".parse().unwrap(),
            ("127.0.0.1".into(), 9092),
        )
    }

    #[test]
    fn default_is_one_loopback_plaintext_listener() {
        let (bind, adv) = default();
        let l = resolve(None, None, None, bind, adv).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(l[0].bind, bind);
    }

    #[test]
    fn several_listeners_with_advertised_addresses_and_a_map() {
        let (bind, adv) = default();
        let l = resolve(
            Some("PLAINTEXT://127.0.0.1:9092, EXTERNAL://127.0.0.1:9093"),
            Some("EXTERNAL://kafka.example.com:19093"),
            Some("PLAINTEXT:PLAINTEXT,EXTERNAL:SASL_SSL"),
            bind,
            adv,
        )
        .unwrap();
        assert_eq!(l[1].name, "EXTERNAL");
        assert_eq!(l[1].protocol, SecurityProtocol::SaslSsl);
        assert_eq!(
            (l[1].advertised_host.as_str(), l[1].advertised_port),
            ("kafka.example.com", 19093)
        );
        assert_eq!(
            (l[0].advertised_host.as_str(), l[0].advertised_port),
            ("127.0.0.1", 9092)
        );
    }

    #[test]
    fn mistakes_are_refused() {
        let (bind, adv) = default();
        for (listeners, advertised) in [
            ("PLAINTEXT://127.0.0.1", None),
            ("127.0.0.1:9092", None),
            ("BOGUS://127.0.0.1:9092", None),
            (
                "PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093",
                None,
            ),
            ("PLAINTEXT://127.0.0.1:9092", Some("SSL://x:1")),
            ("PLAINTEXT://127.0.0.1:99999", None),
        ] {
            assert!(
                resolve(Some(listeners), advertised, None, bind, adv.clone()).is_err(),
                "{listeners}"
            );
        }
    }
}
