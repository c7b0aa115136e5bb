//! Test certificates: a CA and the certificates it issues, written as PEM
//! files, made fresh by each test (rcgen), so TLS tests need no fixtures on
//! disk and can make what they need to see refused: a foreign CA, an expired
//! certificate.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// Whether an issued certificate is valid now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// From 2020 to 2100.
    Current,
    /// From 2020 to 2021: expired.
    Expired,
}

/// A certificate and its key, as PEM files.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// A certificate authority whose files live in one directory.
pub struct TestCa {
    dir: PathBuf,
    name: String,
    cert: rcgen::Certificate,
    key: KeyPair,
    /// The CA certificate's PEM file.
    pub ca_file: PathBuf,
}

impl TestCa {
    /// Makes a CA named `name` and writes its certificate to `dir/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names: valid");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("key generation works");
        let cert = params.self_signed(&key).expect("self-signing works");
        let ca_file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca_file, cert.pem()).expect("write the CA file");
        TestCa {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            cert,
            key,
            ca_file,
        }
    }

    /// Issues a certificate for `localhost`, `127.0.0.1` and `127.0.0.10` to
    /// `127.0.0.40` (the tests' peer addresses), good for both
    /// server and client authentication, written as `dir/<ca>-<leaf>.pem` and
    /// `dir/<ca>-<leaf>-key.pem`.
    pub fn issue(&self, leaf: &str, validity: Validity) -> Issued {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string()]).expect("a valid DNS name");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        // The process tests give node i the peer address 127.0.0.(10 + i).
        for last in 10..=40 {
            params
                .subject_alt_names
                .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::new(
                    127, 0, 0, last,
                ))));
        }
        params.distinguished_name.push(DnType::CommonName, leaf);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = match validity {
            Validity::Current => rcgen::date_time_ymd(2100, 1, 1),
            Validity::Expired => rcgen::date_time_ymd(2021, 1, 1),
        };
        let key = KeyPair::generate().expect("key generation works");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signing works");
        let base = format!("{}-{leaf}", self.name);
        let issued = Issued {
            cert: self.dir.join(format!("{base}.pem")),
            key: self.dir.join(format!("{base}-key.pem")),
        };
        std::fs::write(&issued.cert, cert.pem()).expect("write the certificate");
        std::fs::write(&issued.key, key.serialize_pem()).expect("write the key");
        issued
    }
}
