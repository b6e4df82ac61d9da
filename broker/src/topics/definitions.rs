//! The persisted topic definitions: `<data-dir>/meta/topics/<name>.json` (name, id, partition
//! count, explicit configs), each written atomically, plus a second copy in
//! `<data-dir>/meta/topics-backup/` written after it. A definition that does not parse (bit
//! rot; the atomic writes rule out torn ones) is restored from its copy with an ERROR line,
//! so one bad file neither stops the broker nor loses the topic's configs; only when both
//! copies are unreadable does the start fail, naming them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::persist::write_atomic;

/// What is persisted per topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TopicRecord {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

/// The two places topic definitions live.
pub(super) struct Definitions {
    primary: PathBuf,
    backup: PathBuf,
}

fn parse(path: &Path) -> Result<TopicRecord, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

impl Definitions {
    /// The definitions under `meta_dir` (`topics/` and `topics-backup/`).
    pub fn new(meta_dir: &Path) -> Definitions {
        Definitions {
            primary: meta_dir.join("topics"),
            backup: meta_dir.join("topics-backup"),
        }
    }

    fn file(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.json"))
    }

    /// Writes a definition: the primary file, then its copy.
    pub fn save(&self, record: &TopicRecord) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        write_atomic(&Self::file(&self.primary, &record.name), &json)?;
        write_atomic(&Self::file(&self.backup, &record.name), &json)
    }

    /// Removes a definition: the primary file (which makes the topic gone), then its copy.
    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        std::fs::remove_file(Self::file(&self.primary, name))?;
        match std::fs::remove_file(Self::file(&self.backup, name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every topic's definition, restoring unreadable primaries from their copies.
    pub fn load_all(&self) -> anyhow::Result<Vec<TopicRecord>> {
        weir_storage::create_dir_durable(&self.primary)?;
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&self.primary)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let record = match parse(&path) {
                Ok(record) => record,
                Err(primary) => self.restore(&path, primary)?,
            };
            records.push(record);
        }
        Ok(records)
    }

    /// The definition at `path` from its copy, rewritten in place.
    fn restore(&self, path: &Path, primary: String) -> anyhow::Result<TopicRecord> {
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        let copy = self.backup.join(&name);
        let record = parse(&copy).map_err(|backup| {
            anyhow::anyhow!(
                "corrupt topic metadata {primary}; its copy is unreadable too: {backup}"
            )
        })?;
        tracing::error!(file = %path.display(), error = %primary, "topic definition is unreadable; restored from its copy");
        let json = serde_json::to_vec_pretty(&record)?;
        write_atomic(path, &json)?;
        Ok(record)
    }

    /// Copies of definitions written before copies existed, so every topic has one.
    pub fn backfill(&self, records: &[TopicRecord]) -> std::io::Result<()> {
        for record in records {
            if !Self::file(&self.backup, &record.name).exists() {
                let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
                write_atomic(&Self::file(&self.backup, &record.name), &json)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> TopicRecord {
        TopicRecord {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions: 3,
            configs: BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
        }
    }

    #[test]
    fn a_corrupt_definition_is_restored_from_its_copy() {
        let dir = tempfile::tempdir().unwrap();
        let defs = Definitions::new(dir.path());
        let (a, b) = (record("a"), record("b"));
        defs.save(&a).unwrap();
        defs.save(&b).unwrap();
        let primary = dir.path().join("topics/a.json");
        let mut bytes = std::fs::read(&primary).unwrap();
        for flip in [0, bytes.len() / 2, bytes.len() - 1] {
            bytes[flip] ^= 0x5a;
        }
        std::fs::write(&primary, &bytes).unwrap();
        let mut loaded = defs.load_all().unwrap();
        loaded.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(loaded, vec![a.clone(), b]);
        // Rewritten in place: the next load reads the primary.
        assert_eq!(parse(&primary).unwrap(), a);
    }

    #[test]
    fn both_copies_unreadable_fails_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let defs = Definitions::new(dir.path());
        defs.save(&record("a")).unwrap();
        std::fs::write(dir.path().join("topics/a.json"), b"{\"name\": ").unwrap();
        std::fs::write(dir.path().join("topics-backup/a.json"), b"").unwrap();
        let e = defs.load_all().unwrap_err().to_string();
        assert!(
            e.contains("topics/a.json") && e.contains("topics-backup/a.json"),
            "{e}"
        );
    }

    #[test]
    fn removal_removes_both() {
        let dir = tempfile::tempdir().unwrap();
        let defs = Definitions::new(dir.path());
        defs.save(&record("a")).unwrap();
        defs.remove("a").unwrap();
        assert!(defs.load_all().unwrap().is_empty());
        assert!(!dir.path().join("topics-backup/a.json").exists());
    }
}
