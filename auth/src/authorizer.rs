//! [`Authorizer`]: Kafka's ACL authorizer — super users, `allow.everyone.if.no.acl.found`,
//! Deny before Allow, implied operations — over an [`AclStore`] persisted in
//! `<data-dir>/meta/acls.json` (written atomically, like the users).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::acl::{AclBinding, AclFilter, Operation, Permission, Resource, ResourceType, WILDCARD};
use crate::error::AuthError;
use crate::json_file::{self, store_error};
use crate::principal::Principal;

/// The principal every ACL entry of `User:*` matches.
const ANY_USER: &str = "User:*";

#[derive(Serialize, Deserialize, Default)]
struct AclFile {
    acls: BTreeSet<AclBinding>,
}

/// The ACLs of a broker. `Send + Sync`; changes are written through before they return, and
/// a change that cannot be stored changes nothing.
#[derive(Debug)]
pub struct AclStore {
    path: PathBuf,
    acls: RwLock<BTreeSet<AclBinding>>,
}

impl AclStore {
    /// Opens `<meta_dir>/acls.json` (empty if it does not exist). A file that does not parse,
    /// or holds a binding Kafka would refuse, is an error: starting with fewer ACLs than the
    /// operator set could let a Deny lapse.
    pub fn open(meta_dir: &Path) -> Result<AclStore, AuthError> {
        let path = meta_dir.join("acls.json");
        let acls = json_file::load::<AclFile>(&path)?
            .map(|f| f.acls)
            .unwrap_or_default();
        if let Some(Err(e)) = acls.iter().map(AclBinding::validate).find(Result::is_err) {
            return Err(store_error(&path, std::io::Error::other(e)));
        }
        Ok(AclStore {
            path,
            acls: RwLock::new(acls),
        })
    }

    fn save(&self, acls: &BTreeSet<AclBinding>) -> Result<(), AuthError> {
        json_file::save(&self.path, &AclFile { acls: acls.clone() })
    }

    /// Every binding `filter` selects, in a stable order.
    pub fn list(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.acls
            .read()
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    /// Adds `bindings` (already validated; adding one that exists is a no-op) and stores
    /// them all, or none.
    pub fn add(&self, bindings: &[AclBinding]) -> Result<(), AuthError> {
        let mut acls = self.acls.write();
        let mut next = acls.clone();
        next.extend(bindings.iter().cloned());
        if next.len() != acls.len() {
            self.save(&next)?;
            *acls = next;
        }
        Ok(())
    }

    /// Removes every binding each filter selects; returns, per filter, what it removed. All
    /// removals are stored together, or none.
    pub fn remove(&self, filters: &[AclFilter]) -> Result<Vec<Vec<AclBinding>>, AuthError> {
        let mut acls = self.acls.write();
        let removed: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|f| acls.iter().filter(|b| f.matches(b)).cloned().collect())
            .collect();
        let next: BTreeSet<AclBinding> = acls
            .iter()
            .filter(|b| !filters.iter().any(|f| f.matches(b)))
            .cloned()
            .collect();
        if next.len() != acls.len() {
            self.save(&next)?;
            *acls = next;
        }
        Ok(removed)
    }
}

/// How the authorizer decides (Kafka's `authorizer.class.name`, `super.users`,
/// `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default)]
pub struct AuthorizerSettings {
    /// Whether ACLs are enforced at all; without, every request is allowed (Kafka with no
    /// authorizer) and the ACL APIs answer SECURITY_DISABLED.
    pub enabled: bool,
    /// Principals allowed everything (`User:admin`).
    pub super_users: Vec<String>,
    /// Allow a request on a resource no ACL covers.
    pub allow_everyone_if_no_acl_found: bool,
}

/// Decides whether a principal from a host may perform an operation on a resource.
#[derive(Debug)]
pub struct Authorizer {
    settings: AuthorizerSettings,
    acls: AclStore,
}

/// Whether `binding`'s entry applies to `principal` connecting from `host`.
fn entry_applies(binding: &AclBinding, principal: &str, host: &str) -> bool {
    (binding.principal == principal || binding.principal == ANY_USER)
        && (binding.host == WILDCARD || binding.host == host)
}

impl Authorizer {
    /// An authorizer over `acls`.
    pub fn new(settings: AuthorizerSettings, acls: AclStore) -> Authorizer {
        Authorizer { settings, acls }
    }

    /// Whether ACLs are enforced.
    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// The ACL store (for the ACL APIs).
    pub fn acls(&self) -> &AclStore {
        &self.acls
    }

    fn is_super_user(&self, principal: &str) -> bool {
        self.settings.super_users.iter().any(|s| s == principal)
    }

    /// Whether `principal` from `host` may perform `operation` on `resource`, exactly as
    /// Kafka's authorizer decides: super users may do anything; a resource no ACL covers is
    /// allowed only with `allow.everyone.if.no.acl.found`; a matching Deny (of the operation
    /// or ALL) refuses; a matching Allow of the operation, of ALL, or of an operation that
    /// implies it (Read → Describe, AlterConfigs → DescribeConfigs…) allows; nothing else
    /// does.
    pub fn allowed(
        &self,
        principal: &Principal,
        host: IpAddr,
        operation: Operation,
        resource: Resource<'_>,
    ) -> bool {
        if !self.settings.enabled {
            return true;
        }
        let principal = principal.to_string();
        if self.is_super_user(&principal) {
            return true;
        }
        let host = host.to_string();
        let acls = self.acls.acls.read();
        let mut covered = false;
        let mut allow = false;
        for binding in acls.iter().filter(|b| b.covers(resource)) {
            covered = true;
            if !entry_applies(binding, &principal, &host) {
                continue;
            }
            match binding.permission {
                Permission::Deny
                    if binding.operation == operation || binding.operation == Operation::All =>
                {
                    return false
                }
                Permission::Allow
                    if binding.operation == Operation::All
                        || operation.implied_by().contains(&binding.operation) =>
                {
                    allow = true
                }
                _ => {}
            }
        }
        allow || (!covered && self.settings.allow_everyone_if_no_acl_found)
    }

    /// Whether `principal` may perform `operation` on at least one resource of `kind`
    /// (Kafka's `authorizeByResourceType`, which InitProducerId uses: Write on any topic).
    pub fn allowed_on_any(
        &self,
        principal: &Principal,
        host: IpAddr,
        operation: Operation,
        kind: ResourceType,
    ) -> bool {
        if !self.settings.enabled || self.is_super_user(&principal.to_string()) {
            return true;
        }
        let (name, host_text) = (principal.to_string(), host.to_string());
        let candidates: Vec<String> = {
            let acls = self.acls.acls.read();
            if self.settings.allow_everyone_if_no_acl_found
                && !acls.iter().any(|b| b.resource_type == kind)
            {
                return true;
            }
            acls.iter()
                .filter(|b| {
                    b.resource_type == kind
                        && b.permission == Permission::Allow
                        && (b.operation == Operation::All || b.operation == operation)
                        && entry_applies(b, &name, &host_text)
                })
                .map(|b| b.resource_name.clone())
                .collect()
        };
        candidates.iter().any(|resource_name| {
            self.allowed(
                principal,
                host,
                operation,
                Resource {
                    kind,
                    name: resource_name,
                },
            )
        })
    }

    /// Kafka's `authorized_operations` bit field for `resource`: bit `1 << code` for each
    /// operation of the resource type the principal may perform.
    pub fn authorized_operations(
        &self,
        principal: &Principal,
        host: IpAddr,
        resource: Resource<'_>,
    ) -> i32 {
        resource
            .kind
            .operations()
            .iter()
            .filter(|op| self.allowed(principal, host, **op, resource))
            .fold(0i32, |bits, op| bits | (1i32 << op.code()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::PatternType;
    use proptest::prelude::*;

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn bind(
        principal: &str,
        op: Operation,
        perm: Permission,
        name: &str,
        pattern: PatternType,
    ) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: perm,
        }
    }

    fn authorizer(dir: &Path, allow_if_none: bool, acls: &[AclBinding]) -> Authorizer {
        let store = AclStore::open(dir).unwrap();
        store.add(acls).unwrap();
        Authorizer::new(
            AuthorizerSettings {
                enabled: true,
                super_users: vec!["User:admin".into()],
                allow_everyone_if_no_acl_found: allow_if_none,
            },
            store,
        )
    }

    #[test]
    fn kafka_rules() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(
            dir.path(),
            false,
            &[
                bind(
                    "User:alice",
                    Operation::Read,
                    Permission::Allow,
                    "orders.",
                    PatternType::Prefixed,
                ),
                bind(
                    "User:alice",
                    Operation::Read,
                    Permission::Deny,
                    "orders.secret",
                    PatternType::Literal,
                ),
                bind(
                    "User:*",
                    Operation::Write,
                    Permission::Allow,
                    "public",
                    PatternType::Literal,
                ),
            ],
        );
        let alice = Principal::user("alice");
        let bob = Principal::user("bob");
        let t = Resource::topic;
        assert!(a.allowed(&alice, HOST, Operation::Read, t("orders.eu")));
        assert!(
            a.allowed(&alice, HOST, Operation::Describe, t("orders.eu")),
            "Read implies Describe"
        );
        assert!(!a.allowed(&alice, HOST, Operation::Write, t("orders.eu")));
        assert!(
            !a.allowed(&alice, HOST, Operation::Read, t("orders.secret")),
            "Deny beats Allow"
        );
        assert!(
            a.allowed(&alice, HOST, Operation::Describe, t("orders.secret")),
            "a Read deny does not deny Describe"
        );
        assert!(a.allowed(&bob, HOST, Operation::Write, t("public")));
        assert!(
            !a.allowed(&bob, HOST, Operation::Read, t("nothing")),
            "no ACL, default deny"
        );
        assert!(a.allowed(&Principal::user("admin"), HOST, Operation::Delete, t("x")));
        assert!(a.allowed_on_any(&bob, HOST, Operation::Write, ResourceType::Topic));
        assert!(!a.allowed_on_any(&alice, HOST, Operation::Delete, ResourceType::Topic));
        let ops = a.authorized_operations(&alice, HOST, t("orders.eu"));
        assert_eq!(ops, (1 << 3) | (1 << 8));
    }

    #[test]
    fn no_acl_found_and_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let mut from_elsewhere = bind(
            "User:bob",
            Operation::All,
            Permission::Allow,
            "t",
            PatternType::Literal,
        );
        from_elsewhere.host = "10.0.0.1".into();
        let a = authorizer(dir.path(), true, &[from_elsewhere]);
        let bob = Principal::user("bob");
        assert!(a.allowed(&bob, HOST, Operation::Read, Resource::topic("uncovered")));
        assert!(
            !a.allowed(&bob, HOST, Operation::Read, Resource::topic("t")),
            "covered, wrong host"
        );
        assert!(a.allowed(
            &bob,
            "10.0.0.1".parse().unwrap(),
            Operation::Alter,
            Resource::topic("t")
        ));
    }

    #[test]
    fn store_persists_and_removes_by_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(dir.path()).unwrap();
        let a = bind(
            "User:a",
            Operation::Read,
            Permission::Allow,
            "x",
            PatternType::Literal,
        );
        let b = bind(
            "User:b",
            Operation::Write,
            Permission::Deny,
            "y",
            PatternType::Prefixed,
        );
        store.add(&[a.clone(), b.clone(), a.clone()]).unwrap();
        let reopened = AclStore::open(dir.path()).unwrap();
        assert_eq!(reopened.list(&AclFilter::any()), vec![a.clone(), b.clone()]);
        let only_b = AclFilter {
            principal: Some("User:b".into()),
            ..AclFilter::any()
        };
        assert_eq!(reopened.remove(&[only_b]).unwrap(), vec![vec![b]]);
        assert_eq!(
            AclStore::open(dir.path()).unwrap().list(&AclFilter::any()),
            vec![a]
        );
    }

    fn op() -> impl Strategy<Value = Operation> {
        (2i8..=12).prop_map(|c| Operation::from_code(c).unwrap())
    }

    proptest! {
        /// A Deny of an operation (or ALL) for a principal always wins, whatever else exists.
        #[test]
        fn deny_always_wins(
            allows in proptest::collection::vec((op(), "[a-c]{0,2}"), 0..8),
            denied in op(),
            name in "[a-c]{1,3}",
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut acls: Vec<AclBinding> = allows
                .iter()
                .map(|(o, prefix)| {
                    let pattern = if prefix.is_empty() { PatternType::Literal } else { PatternType::Prefixed };
                    let n = if prefix.is_empty() { "*" } else { prefix.as_str() };
                    bind("User:alice", *o, Permission::Allow, n, pattern)
                })
                .collect();
            acls.push(bind("User:alice", denied, Permission::Deny, &name, PatternType::Literal));
            let a = authorizer(dir.path(), true, &acls);
            prop_assert!(!a.allowed(&Principal::user("alice"), HOST, denied, Resource::topic(&name)));
        }
    }
}
