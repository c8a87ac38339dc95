//! Where a project is written: the disk, or memory for the tests.

#[cfg(test)]
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

/// What is at a project's target path before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Nothing: the directory will be created.
    Missing,
    /// An empty directory.
    Empty,
    /// A directory with something in it.
    Occupied,
    /// A file, or anything else that is not a directory.
    NotADirectory,
}

/// The seam `tiny new` writes through.
pub(crate) trait Writer {
    /// What is at `dir` now.
    fn inspect(&self, dir: &Path) -> io::Result<Target>;

    /// Writes a new file at `path`, creating its parent directories; an
    /// existing file is never overwritten.
    fn write(&mut self, path: &Path, contents: &str) -> io::Result<()>;
}

/// The file system.
#[derive(Debug, Default)]
pub(crate) struct Disk;

impl Writer for Disk {
    fn inspect(&self, dir: &Path) -> io::Result<Target> {
        match fs::metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Target::Missing),
            Err(e) => Err(e),
            Ok(meta) if !meta.is_dir() => Ok(Target::NotADirectory),
            Ok(_) if fs::read_dir(dir)?.next().is_none() => Ok(Target::Empty),
            Ok(_) => Ok(Target::Occupied),
        }
    }

    fn write(&mut self, path: &Path, contents: &str) -> io::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all(contents.as_bytes())
    }
}

/// Files kept in memory, for tests: what was written, and what was there before.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// Every file, by path.
    pub(crate) files: BTreeMap<PathBuf, String>,
    /// Directories that exist without files in them.
    pub(crate) dirs: BTreeSet<PathBuf>,
}

#[cfg(test)]
impl Memory {
    /// The contents of the file at `path`, if there is one.
    pub(crate) fn file(&self, path: impl AsRef<Path>) -> Option<&str> {
        self.files.get(path.as_ref()).map(String::as_str)
    }
}

#[cfg(test)]
impl Writer for Memory {
    fn inspect(&self, dir: &Path) -> io::Result<Target> {
        if self.files.contains_key(dir) {
            Ok(Target::NotADirectory)
        } else if self.files.keys().any(|f| f.starts_with(dir))
            || self.dirs.iter().any(|d| d != dir && d.starts_with(dir))
        {
            Ok(Target::Occupied)
        } else if self.dirs.contains(dir) {
            Ok(Target::Empty)
        } else {
            Ok(Target::Missing)
        }
    }

    fn write(&mut self, path: &Path, contents: &str) -> io::Result<()> {
        if self.files.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the file exists",
            ));
        }
        self.files.insert(path.to_owned(), contents.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_tells_missing_empty_occupied_and_files_apart() {
        let mut memory = Memory::default();
        memory.dirs.insert("empty".into());
        memory.write(Path::new("full/a.txt"), "a").unwrap();
        assert_eq!(
            memory.inspect(Path::new("nowhere")).unwrap(),
            Target::Missing
        );
        assert_eq!(memory.inspect(Path::new("empty")).unwrap(), Target::Empty);
        assert_eq!(memory.inspect(Path::new("full")).unwrap(), Target::Occupied);
        assert_eq!(
            memory.inspect(Path::new("full/a.txt")).unwrap(),
            Target::NotADirectory
        );
    }

    #[test]
    fn neither_writer_overwrites_a_file() {
        let mut memory = Memory::default();
        memory.write(Path::new("a"), "first").unwrap();
        assert_eq!(
            memory.write(Path::new("a"), "second").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(memory.file("a"), Some("first"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/a");
        Disk.write(&path, "first").unwrap();
        assert_eq!(
            Disk.write(&path, "second").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
        assert_eq!(Disk.inspect(dir.path()).unwrap(), Target::Occupied);
        assert_eq!(Disk.inspect(&path).unwrap(), Target::NotADirectory);
        assert_eq!(
            Disk.inspect(&dir.path().join("new")).unwrap(),
            Target::Missing
        );
    }
}
