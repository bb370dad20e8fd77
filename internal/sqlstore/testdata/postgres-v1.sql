--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: credbroker_audit_append_only(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.credbroker_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit (
    seq bigint NOT NULL,
    time_us bigint,
    action text NOT NULL,
    token_id text NOT NULL,
    plan text NOT NULL,
    build text NOT NULL,
    job text NOT NULL,
    task text NOT NULL,
    connector text NOT NULL,
    role_arn text NOT NULL,
    access_key_id text NOT NULL,
    expiration_us bigint,
    outcome text NOT NULL,
    error_code text NOT NULL,
    detail text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);


--
-- Name: audit_head; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_head (
    id integer NOT NULL,
    seq bigint NOT NULL,
    hash text NOT NULL,
    CONSTRAINT audit_head_id_check CHECK ((id = 1))
);


--
-- Name: connectors; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.connectors (
    id text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    principal text NOT NULL,
    base text NOT NULL,
    base_connector text,
    access_key_id text NOT NULL,
    secret_blob bytea,
    secret_key_version integer,
    region text NOT NULL,
    role_arn text NOT NULL,
    external_id text NOT NULL,
    federated_name text NOT NULL,
    policy text NOT NULL,
    policy_arns text NOT NULL,
    default_duration_ns bigint NOT NULL,
    max_duration_ns bigint NOT NULL,
    scope_kind text NOT NULL,
    scope_key text NOT NULL,
    allow_plans text NOT NULL,
    session_mode text NOT NULL,
    tags text NOT NULL,
    transitive_tag_keys text NOT NULL,
    disable_tags boolean NOT NULL,
    sts_endpoints text NOT NULL,
    retry_max_attempts integer NOT NULL,
    retry_max_backoff_ns bigint NOT NULL,
    created_us bigint,
    updated_us bigint,
    revision bigint NOT NULL,
    CONSTRAINT connectors_check CHECK (((secret_blob IS NULL) = (secret_key_version IS NULL)))
);


--
-- Name: meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meta (
    key text NOT NULL,
    key_version integer NOT NULL,
    blob bytea NOT NULL
);


--
-- Name: schema_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_version (
    version integer NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tokens (
    id text NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    plans text NOT NULL,
    hash bytea NOT NULL,
    created_us bigint,
    expires_us bigint,
    revoked_us bigint
);


--
-- Name: variables; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.variables (
    plan text NOT NULL,
    name text NOT NULL,
    value text,
    secret boolean NOT NULL,
    sealed_blob bytea,
    key_version integer,
    updated_us bigint,
    CONSTRAINT variables_check CHECK (((secret AND (value IS NULL) AND (sealed_blob IS NOT NULL) AND (key_version IS NOT NULL)) OR ((NOT secret) AND (value IS NOT NULL) AND (sealed_blob IS NULL) AND (key_version IS NULL))))
);


--
-- Data for Name: audit; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit VALUES (1, 1795167000123456, 'connector.create', 'tok-admin', '', '', '', '', '', '', '', NULL, 'granted', '', 'base-keys', '0000000000000000000000000000000000000000000000000000000000000000', '98a85eb06aeb4b2da61ff96fc15d211ea5b5a37b0e51351ddf3c70a5477ce18b');
INSERT INTO public.audit VALUES (2, 1795167060123456, 'connector.create', 'tok-admin', '', '', '', '', '', '', '', NULL, 'granted', '', 'deploy', '98a85eb06aeb4b2da61ff96fc15d211ea5b5a37b0e51351ddf3c70a5477ce18b', '95c95bd31153e90ff4f5c4504de15763e6f8f682c29c425764cd39bd54097b7d');
INSERT INTO public.audit VALUES (3, 1795167120123456, 'connector.update', 'tok-admin', '', '', '', '', '', '', '', NULL, 'granted', '', 'deploy', '95c95bd31153e90ff4f5c4504de15763e6f8f682c29c425764cd39bd54097b7d', 'd661d1471caf93f1d203bb57d461179975fe94578a173644b24b39fa9520ce2c');
INSERT INTO public.audit VALUES (4, 1795167300123456, 'token.revoke', 'tok-admin', '', '', '', '', '', '', '', NULL, 'granted', '', 'tok-old', 'd661d1471caf93f1d203bb57d461179975fe94578a173644b24b39fa9520ce2c', 'e1df80272d82ef91cec791f2af9d7397c604f3a05c7892ff7f641066339a8a42');
INSERT INTO public.audit VALUES (5, 1795167600123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '100', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00000', 1795168500123456, 'granted', '', '', 'e1df80272d82ef91cec791f2af9d7397c604f3a05c7892ff7f641066339a8a42', '6f02c458093e36b3f1062be3067703f389490a7dff263fbf96dd13161500f813');
INSERT INTO public.audit VALUES (6, 1795167660123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '101', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00001', 1795168560123456, 'granted', '', '', '6f02c458093e36b3f1062be3067703f389490a7dff263fbf96dd13161500f813', 'fb92c2993decd5b083b05cae7c30f3f88d1aa755127581f0042e5b515ba0e030');
INSERT INTO public.audit VALUES (7, 1795167720123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '102', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00002', 1795168620123456, 'granted', '', '', 'fb92c2993decd5b083b05cae7c30f3f88d1aa755127581f0042e5b515ba0e030', '8336f0529fbab3de98a7532cfca26587bc7f1b8c89b14611b033f1ce18400988');
INSERT INTO public.audit VALUES (8, 1795167780123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '103', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00003', 1795168680123456, 'granted', '', '', '8336f0529fbab3de98a7532cfca26587bc7f1b8c89b14611b033f1ce18400988', 'f55ab683089ddfec06750ad257e2e787466ccb1b5c3e6c54e4943f979c23dba3');
INSERT INTO public.audit VALUES (9, 1795167840123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '104', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00004', 1795168740123456, 'granted', '', '', 'f55ab683089ddfec06750ad257e2e787466ccb1b5c3e6c54e4943f979c23dba3', '8dd04cef2938a9f5ea44a130c692c910dafe776c66acde009b09679c28f165ef');
INSERT INTO public.audit VALUES (10, 1795167900123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '105', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00005', 1795168800123456, 'granted', '', '', '8dd04cef2938a9f5ea44a130c692c910dafe776c66acde009b09679c28f165ef', '6c61080a3fc601a9d2680c79740a3bab2d925ad334f605aa4a9a0643cc0da519');
INSERT INTO public.audit VALUES (11, 1795167960123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '106', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00006', 1795168860123456, 'granted', '', '', '6c61080a3fc601a9d2680c79740a3bab2d925ad334f605aa4a9a0643cc0da519', '95c234cdb044346ac17e831c4814a027d4aeae5e506a749c59714b5c43dabcfa');
INSERT INTO public.audit VALUES (12, 1795168020123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '107', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00007', 1795168920123456, 'granted', '', '', '95c234cdb044346ac17e831c4814a027d4aeae5e506a749c59714b5c43dabcfa', '8bd3368cee88f2fd41a95e55eb77bafe1f4c0da87680411db8fef35c742ccfc5');
INSERT INTO public.audit VALUES (13, 1795168080123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '108', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00008', 1795168980123456, 'granted', '', '', '8bd3368cee88f2fd41a95e55eb77bafe1f4c0da87680411db8fef35c742ccfc5', 'c3bebf727cc75daef3c8e910ca9735e78469d7bac555b31d251eddbdeda409aa');
INSERT INTO public.audit VALUES (14, 1795168140123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '109', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00009', 1795169040123456, 'granted', '', '', 'c3bebf727cc75daef3c8e910ca9735e78469d7bac555b31d251eddbdeda409aa', 'e63ff10012a43044910d6f1a4f02b99c844ab2b1ed5bd3dc371b472ca76d3b80');
INSERT INTO public.audit VALUES (15, 1795168200123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '110', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00010', 1795169100123456, 'granted', '', '', 'e63ff10012a43044910d6f1a4f02b99c844ab2b1ed5bd3dc371b472ca76d3b80', '1b5248aaba45e3ec767c9657aa190a5948a3d8a2d7e4088f080e631bb00c84ee');
INSERT INTO public.audit VALUES (16, 1795168260123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '111', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00011', 1795169160123456, 'granted', '', '', '1b5248aaba45e3ec767c9657aa190a5948a3d8a2d7e4088f080e631bb00c84ee', 'd48a327742c80758f3238e830a2ab538fcbbe2da3279a3492e73cdab8ec7a8bc');
INSERT INTO public.audit VALUES (17, 1795168320123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '112', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00012', 1795169220123456, 'granted', '', '', 'd48a327742c80758f3238e830a2ab538fcbbe2da3279a3492e73cdab8ec7a8bc', '9ddaebaed2135928000ced5e688e64ff5097b11ff28fbae422c0bf2b997f3bbe');
INSERT INTO public.audit VALUES (18, 1795168380123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '113', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00013', 1795169280123456, 'granted', '', '', '9ddaebaed2135928000ced5e688e64ff5097b11ff28fbae422c0bf2b997f3bbe', '5dee77c798230a771b2e50417eaed874a49ec9c73b26eeb730a8cfc581c92f89');
INSERT INTO public.audit VALUES (19, 1795168440123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '114', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00014', 1795169340123456, 'granted', '', '', '5dee77c798230a771b2e50417eaed874a49ec9c73b26eeb730a8cfc581c92f89', '4d5ebf347a9cf5c05adbfe26db5c03ab7873423964f224aafa6c93ad37d8e2a7');
INSERT INTO public.audit VALUES (20, 1795168500123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '115', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00015', 1795169400123456, 'granted', '', '', '4d5ebf347a9cf5c05adbfe26db5c03ab7873423964f224aafa6c93ad37d8e2a7', '5e033af77d150354766dd403fe256baacafed458946055ea4d9be04a26e17fb0');
INSERT INTO public.audit VALUES (21, 1795168560123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '116', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00016', 1795169460123456, 'granted', '', '', '5e033af77d150354766dd403fe256baacafed458946055ea4d9be04a26e17fb0', '3e72706670f7a6d920b613bc6caa046b207667b564c63160267ab82442ad5a2a');
INSERT INTO public.audit VALUES (22, 1795168620123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '117', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00017', 1795169520123456, 'granted', '', '', '3e72706670f7a6d920b613bc6caa046b207667b564c63160267ab82442ad5a2a', '993cedb384fca3ba72d2074f1614aa01844a0709aa14265c24e8741096fa5c20');
INSERT INTO public.audit VALUES (23, 1795168680123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '118', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00018', 1795169580123456, 'granted', '', '', '993cedb384fca3ba72d2074f1614aa01844a0709aa14265c24e8741096fa5c20', 'c26ffaee1ef22944f24e8c537f94697b58e809dc8c69551374dafa10da086b1f');
INSERT INTO public.audit VALUES (24, 1795168740123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '119', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00019', 1795169640123456, 'granted', '', '', 'c26ffaee1ef22944f24e8c537f94697b58e809dc8c69551374dafa10da086b1f', 'a535db0e5efa355849d68b010b4a653a5fd031ada57e9d488d1d10c0abd09d67');
INSERT INTO public.audit VALUES (25, 1795168800123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '120', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00020', 1795169700123456, 'granted', '', '', 'a535db0e5efa355849d68b010b4a653a5fd031ada57e9d488d1d10c0abd09d67', 'bb924f9d0584e8797e4a1b9c79b109f55d38ec68339fb211f99b85cd309f9f85');
INSERT INTO public.audit VALUES (26, 1795168860123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '121', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00021', 1795169760123456, 'granted', '', '', 'bb924f9d0584e8797e4a1b9c79b109f55d38ec68339fb211f99b85cd309f9f85', 'cbbd5601741f575ab9def5ac8c99403fd010402ac73368090e46b8f05df89a5e');
INSERT INTO public.audit VALUES (27, 1795168920123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '122', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00022', 1795169820123456, 'granted', '', '', 'cbbd5601741f575ab9def5ac8c99403fd010402ac73368090e46b8f05df89a5e', '6723d84e009aaca6af70de4e0ec0a39f9dbcf214f0f9acbd43608f6523013aba');
INSERT INTO public.audit VALUES (28, 1795168980123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '123', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00023', 1795169880123456, 'granted', '', '', '6723d84e009aaca6af70de4e0ec0a39f9dbcf214f0f9acbd43608f6523013aba', 'ac6b331fe29e64ac9371f0afe82d5f56ced771828c05c507f5828f8c7fa91314');
INSERT INTO public.audit VALUES (29, 1795169040123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '124', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00024', 1795169940123456, 'granted', '', '', 'ac6b331fe29e64ac9371f0afe82d5f56ced771828c05c507f5828f8c7fa91314', 'cd7eaec11594590fd8ac709d715f6f183d59cdc77f632798490fbc09c5dfb27b');
INSERT INTO public.audit VALUES (30, 1795169100123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '125', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00025', 1795170000123456, 'granted', '', '', 'cd7eaec11594590fd8ac709d715f6f183d59cdc77f632798490fbc09c5dfb27b', '2a41afcea5db4577631a77ea83855ed38c9d3a5a4405a036491f72601a31cd7b');
INSERT INTO public.audit VALUES (31, 1795169160123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '126', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00026', 1795170060123456, 'granted', '', '', '2a41afcea5db4577631a77ea83855ed38c9d3a5a4405a036491f72601a31cd7b', '6042ac29bb9576e1a404fd48661965f7cb055ce5f57b0ff82480667c5edcab33');
INSERT INTO public.audit VALUES (32, 1795169220123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '127', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00027', 1795170120123456, 'granted', '', '', '6042ac29bb9576e1a404fd48661965f7cb055ce5f57b0ff82480667c5edcab33', '40dbe1360fb6834e7c81118b76ddc1e0bcb50acf9edbb3f98e46dfc1561b625d');
INSERT INTO public.audit VALUES (33, 1795169280123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '128', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00028', 1795170180123456, 'granted', '', '', '40dbe1360fb6834e7c81118b76ddc1e0bcb50acf9edbb3f98e46dfc1561b625d', 'b7fd317407f2932179ea7209d0396d4a9790eaa6cea9eee336b302d7e6310987');
INSERT INTO public.audit VALUES (34, 1795169340123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '129', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00029', 1795170240123456, 'granted', '', '', 'b7fd317407f2932179ea7209d0396d4a9790eaa6cea9eee336b302d7e6310987', 'dbbf3bc21b2163fce9ccf83e02987fe59e88329d5cb4dbb97510869dca0610f1');
INSERT INTO public.audit VALUES (35, 1795169400123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '130', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00030', 1795170300123456, 'granted', '', '', 'dbbf3bc21b2163fce9ccf83e02987fe59e88329d5cb4dbb97510869dca0610f1', '340b43eb674ef74da5e4acf5373de471613a05279787c334ba529d888edb377d');
INSERT INTO public.audit VALUES (36, 1795169460123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '131', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00031', 1795170360123456, 'granted', '', '', '340b43eb674ef74da5e4acf5373de471613a05279787c334ba529d888edb377d', 'de9407ae967b404f323b9bf70b58347fd356fa978dee96d7835d7bc2122a0d7b');
INSERT INTO public.audit VALUES (37, 1795169520123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '132', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00032', 1795170420123456, 'granted', '', '', 'de9407ae967b404f323b9bf70b58347fd356fa978dee96d7835d7bc2122a0d7b', 'e492c6b89ff9c3879cc049cdd5976effa94b630e66240b8ec2859557403b53f6');
INSERT INTO public.audit VALUES (38, 1795169580123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '133', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00033', 1795170480123456, 'granted', '', '', 'e492c6b89ff9c3879cc049cdd5976effa94b630e66240b8ec2859557403b53f6', '6c47e986e8fa9501d8a9fa1102d86d499642e781bc90127e0175ee67aa6affd2');
INSERT INTO public.audit VALUES (39, 1795169640123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '134', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00034', 1795170540123456, 'granted', '', '', '6c47e986e8fa9501d8a9fa1102d86d499642e781bc90127e0175ee67aa6affd2', '6810f5d7eacaa3a2c6e726ccf0abab3062567d11e9607480bcd285d4843a9706');
INSERT INTO public.audit VALUES (40, 1795169700123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '135', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00035', 1795170600123456, 'granted', '', '', '6810f5d7eacaa3a2c6e726ccf0abab3062567d11e9607480bcd285d4843a9706', 'c31845a7178976576ebc411a1893d5d2a789cd457039b50411bf631323958446');
INSERT INTO public.audit VALUES (41, 1795169760123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '136', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00036', 1795170660123456, 'granted', '', '', 'c31845a7178976576ebc411a1893d5d2a789cd457039b50411bf631323958446', '1bbc49d35fdf213079aa8e18a491103b95b7e1703ee40b669845de5be3b173bf');
INSERT INTO public.audit VALUES (42, 1795169820123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '137', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00037', 1795170720123456, 'granted', '', '', '1bbc49d35fdf213079aa8e18a491103b95b7e1703ee40b669845de5be3b173bf', '0872660f497afa73e78ae56387422f734b62a83941439c347c0fb2e3fd5e525c');
INSERT INTO public.audit VALUES (43, 1795169880123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '138', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00038', 1795170780123456, 'granted', '', '', '0872660f497afa73e78ae56387422f734b62a83941439c347c0fb2e3fd5e525c', '1941c2749bcd1bb371d924df77ba0ae023eb3c2ea76c91f8109bcea3ed2d6dc7');
INSERT INTO public.audit VALUES (44, 1795169940123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '139', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00039', 1795170840123456, 'granted', '', '', '1941c2749bcd1bb371d924df77ba0ae023eb3c2ea76c91f8109bcea3ed2d6dc7', '4c57b24e17428a45bba8aae36ca9980a4f5e7e45116fa6b456d4cc522b4baf29');
INSERT INTO public.audit VALUES (45, 1795170000123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '140', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00040', 1795170900123456, 'granted', '', '', '4c57b24e17428a45bba8aae36ca9980a4f5e7e45116fa6b456d4cc522b4baf29', '78c2d74029dc050403fed26ab81917f24480cb7c408498634535aa4a89de3a04');
INSERT INTO public.audit VALUES (46, 1795170060123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '141', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00041', 1795170960123456, 'granted', '', '', '78c2d74029dc050403fed26ab81917f24480cb7c408498634535aa4a89de3a04', '096a260a0ee1dc806d067416ba2638a49c79da24937ea5173f618a7d80d9e7e2');
INSERT INTO public.audit VALUES (47, 1795170120123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '142', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00042', 1795171020123456, 'granted', '', '', '096a260a0ee1dc806d067416ba2638a49c79da24937ea5173f618a7d80d9e7e2', '79355e5b252bb7cc60ac7f88df17e6450a530005f38b0593cca7f5f7c7c136e9');
INSERT INTO public.audit VALUES (48, 1795170180123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '143', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00043', 1795171080123456, 'granted', '', '', '79355e5b252bb7cc60ac7f88df17e6450a530005f38b0593cca7f5f7c7c136e9', '988e9c2ef7b5f2813049e106a074cd7c670c3c72d020b49ec92bec6300fa230a');
INSERT INTO public.audit VALUES (49, 1795170240123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '144', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00044', 1795171140123456, 'granted', '', '', '988e9c2ef7b5f2813049e106a074cd7c670c3c72d020b49ec92bec6300fa230a', '6d4653abf6db136b7eb80399d0881623f060c501199b13cc401d44ae31e237b0');
INSERT INTO public.audit VALUES (50, 1795170300123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '145', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00045', 1795171200123456, 'granted', '', '', '6d4653abf6db136b7eb80399d0881623f060c501199b13cc401d44ae31e237b0', '480c9ec952fdea352f1a2bd8f57da235ffee523e48c18fcbb967151a48c55f1f');
INSERT INTO public.audit VALUES (51, 1795170360123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '146', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00046', 1795171260123456, 'granted', '', '', '480c9ec952fdea352f1a2bd8f57da235ffee523e48c18fcbb967151a48c55f1f', '19a06e779473ee42f5fa544698cee71ebe33641bf97858737892c4a698ae2667');
INSERT INTO public.audit VALUES (52, 1795170420123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '147', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00047', 1795171320123456, 'granted', '', '', '19a06e779473ee42f5fa544698cee71ebe33641bf97858737892c4a698ae2667', 'c80301abb99c007ee358e7cc8879845862a21351e1a06804b54a259b2bdd11a4');
INSERT INTO public.audit VALUES (53, 1795170480123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '148', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00048', 1795171380123456, 'granted', '', '', 'c80301abb99c007ee358e7cc8879845862a21351e1a06804b54a259b2bdd11a4', '1c4f43312b5b403216335751e157ee4fff5269d6415fec96c6ea72988f969ae6');
INSERT INTO public.audit VALUES (54, 1795170540123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '149', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00049', 1795171440123456, 'granted', '', '', '1c4f43312b5b403216335751e157ee4fff5269d6415fec96c6ea72988f969ae6', '8876d7e91e4883f3eface3c24dd11b784e915a7f264f4674e1910500c37a04af');
INSERT INTO public.audit VALUES (55, 1795170600123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '150', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00050', 1795171500123456, 'granted', '', '', '8876d7e91e4883f3eface3c24dd11b784e915a7f264f4674e1910500c37a04af', '3d0416b092fbd79fa8a44fa72647642cc766372d13bf08385cb3498d253977e6');
INSERT INTO public.audit VALUES (56, 1795170660123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '151', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00051', 1795171560123456, 'granted', '', '', '3d0416b092fbd79fa8a44fa72647642cc766372d13bf08385cb3498d253977e6', '21bff7b7b9176418107a4bef82ec1733be2b257d4ed83017ed7fb8561b2fb38d');
INSERT INTO public.audit VALUES (57, 1795170720123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '152', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00052', 1795171620123456, 'granted', '', '', '21bff7b7b9176418107a4bef82ec1733be2b257d4ed83017ed7fb8561b2fb38d', 'f82677dc0da417d52501fd7765f33ac30b3e1eb9a4551b67e4d46480d6ccf0f4');
INSERT INTO public.audit VALUES (58, 1795170780123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '153', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00053', 1795171680123456, 'granted', '', '', 'f82677dc0da417d52501fd7765f33ac30b3e1eb9a4551b67e4d46480d6ccf0f4', '26ed0522738a6b2376215747b17ce89d4c4e539a3809cc480c18494dd9c42bf8');
INSERT INTO public.audit VALUES (59, 1795170840123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '154', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00054', 1795171740123456, 'granted', '', '', '26ed0522738a6b2376215747b17ce89d4c4e539a3809cc480c18494dd9c42bf8', '79a8b9ce6c10451fe3ee03caadc132b5a26a5a4e5277f4e00b2c27cc7ef4255a');
INSERT INTO public.audit VALUES (60, 1795170900123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '155', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00055', 1795171800123456, 'granted', '', '', '79a8b9ce6c10451fe3ee03caadc132b5a26a5a4e5277f4e00b2c27cc7ef4255a', '00dcbb37ac3540ce7bf19a329457433323c920eab54d1706cb2ae9de6f07a04c');
INSERT INTO public.audit VALUES (61, 1795170960123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '156', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00056', 1795171860123456, 'granted', '', '', '00dcbb37ac3540ce7bf19a329457433323c920eab54d1706cb2ae9de6f07a04c', '301ac5695a763f3ae012d1b4c2a8b542596c8cf95f7009a85feaa047498ae750');
INSERT INTO public.audit VALUES (62, 1795171020123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '157', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00057', 1795171920123456, 'granted', '', '', '301ac5695a763f3ae012d1b4c2a8b542596c8cf95f7009a85feaa047498ae750', '73adee18d9916c02eb6790eaa738aceaa2fe084b94f7ec039e237dab5c9b66e8');
INSERT INTO public.audit VALUES (63, 1795171080123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '158', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00058', 1795171980123456, 'granted', '', '', '73adee18d9916c02eb6790eaa738aceaa2fe084b94f7ec039e237dab5c9b66e8', '57740964cb151b0836b9305212e522ab38b00ceecc5fa808490c82018e2babee');
INSERT INTO public.audit VALUES (64, 1795171140123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '159', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00059', 1795172040123456, 'granted', '', '', '57740964cb151b0836b9305212e522ab38b00ceecc5fa808490c82018e2babee', '7a41c6f3cef5f322bb7da6b3d5141fe8061777ac15490a0f0743a86c9c554a09');
INSERT INTO public.audit VALUES (65, 1795171200123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '160', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00060', 1795172100123456, 'granted', '', '', '7a41c6f3cef5f322bb7da6b3d5141fe8061777ac15490a0f0743a86c9c554a09', 'f641d9b284c56b8bab4bc9cf03c9d9b3acd3c52d6d81491ee8063e8237ed9d10');
INSERT INTO public.audit VALUES (66, 1795171260123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '161', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00061', 1795172160123456, 'granted', '', '', 'f641d9b284c56b8bab4bc9cf03c9d9b3acd3c52d6d81491ee8063e8237ed9d10', '77ccc336a81bee18bc6980f238f9e212c76514d2c2ff2c28e060ed1d0b6a9d59');
INSERT INTO public.audit VALUES (67, 1795171320123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '162', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00062', 1795172220123456, 'granted', '', '', '77ccc336a81bee18bc6980f238f9e212c76514d2c2ff2c28e060ed1d0b6a9d59', '90e2c3448fe5cd371e8091e567a451d13bf201a310ff7513f0fe995f55ee5241');
INSERT INTO public.audit VALUES (68, 1795171380123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '163', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00063', 1795172280123456, 'granted', '', '', '90e2c3448fe5cd371e8091e567a451d13bf201a310ff7513f0fe995f55ee5241', '50295a4f4462e94fc4da360f0c8b53c0be64e01a2b636d1ac3e008adaf954861');
INSERT INTO public.audit VALUES (69, 1795171440123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '164', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00064', 1795172340123456, 'granted', '', '', '50295a4f4462e94fc4da360f0c8b53c0be64e01a2b636d1ac3e008adaf954861', '5385a03c0331854b65e13e549aa84c0cf3af7ee1f764a3131852fb9e9cb61f32');
INSERT INTO public.audit VALUES (70, 1795171500123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '165', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00065', 1795172400123456, 'granted', '', '', '5385a03c0331854b65e13e549aa84c0cf3af7ee1f764a3131852fb9e9cb61f32', '151c274031a6de88cbb54a9b916e34a976bf444c9733b9502db5043024435e1f');
INSERT INTO public.audit VALUES (71, 1795171560123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '166', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00066', 1795172460123456, 'granted', '', '', '151c274031a6de88cbb54a9b916e34a976bf444c9733b9502db5043024435e1f', '46d4ddff6968488e20f3d11768db6a001fa342d7f890a24cb7d7815d4dbf857e');
INSERT INTO public.audit VALUES (72, 1795171620123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '167', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00067', 1795172520123456, 'granted', '', '', '46d4ddff6968488e20f3d11768db6a001fa342d7f890a24cb7d7815d4dbf857e', 'f2b9c01fcdf717f108036efb612dafea7a9a373b5d589410a4a940998c3ba036');
INSERT INTO public.audit VALUES (73, 1795171680123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '168', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', 'ASIAFIXTURE00068', 1795172580123456, 'granted', '', '', 'f2b9c01fcdf717f108036efb612dafea7a9a373b5d589410a4a940998c3ba036', '4af62de4a29973ad8fbedeb4f7f6aabfc59518d0079ad1e0695e66c05a3c9a2e');
INSERT INTO public.audit VALUES (74, 1795171740123456, 'vend', 'tok-agent', 'OPS-DEPLOY', '169', 'OPS-DEPLOY-JOB1', 'deploy', 'deploy', 'arn:aws:iam::123456789012:role/deploy', '', NULL, 'refused', 'forbidden', '', '4af62de4a29973ad8fbedeb4f7f6aabfc59518d0079ad1e0695e66c05a3c9a2e', '0e11ebf40f8e16f04abd8983f18807c9f0cfc9432e0a9414794fc9fe8e3928f3');


--
-- Data for Name: audit_head; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit_head VALUES (1, 74, '0e11ebf40f8e16f04abd8983f18807c9f0cfc9432e0a9414794fc9fe8e3928f3');


--
-- Data for Name: connectors; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.connectors VALUES ('con-base', 'base-keys', 'the account''s base keys', 'session', 'keys', NULL, 'AKIAFIXTUREBASE0001', '\x7365616c65643a636f6e2d626173653a7631', 1, 'eu-west-1', '', '', '', '', '[]', 3600000000000, 43200000000000, 'system', '', '[]', '', '[]', '[]', false, '[]', 0, 0, 1795167000123456, 1795167000123456, 1);
INSERT INTO public.connectors VALUES ('con-deploy', 'deploy', 'deploys OPS', 'assumed-role', 'connector', 'con-base', '', NULL, NULL, 'eu-west-1', 'arn:aws:iam::123456789012:role/deploy', 'ext-42', '', '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}', '["arn:aws:iam::aws:policy/ReadOnlyAccess"]', 900000000000, 3600000000000, 'project', 'OPS', '["OPS-DEPLOY","OPS-*"]', 'build', '[{"key":"team","value":"ops"}]', '["team"]', true, '["https://sts.eu-west-1.amazonaws.com"]', 3, 2000000000, 1795167060123456, 1795167120123456, 2);


--
-- Data for Name: meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.meta VALUES ('keycheck', 1, '\x7365616c65643a6b6579636865636b3a7631');


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_version VALUES (1, '2026-12-01 21:12:59.491112+00');


--
-- Data for Name: tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.tokens VALUES ('tok-agent', 'agent', 'agent', 'OPS-*', '\x686173682d6f662d6167656e742d746f6b656e2d303132333435363738396162', 1795167180123456, 1802943180123456, NULL);
INSERT INTO public.tokens VALUES ('tok-old', 'retired', 'admin', '', '\x686173682d6f662d6f6c642d746f6b656e2d3031323334353637383961626364', 1795167240123456, NULL, 1795167300123456);


--
-- Data for Name: variables; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.variables VALUES ('', 'region', 'eu-west-1', false, NULL, NULL, 1795167360123456);
INSERT INTO public.variables VALUES ('OPS-DEPLOY', 'deployConnector', 'deploy', false, NULL, NULL, 1795167420123456);
INSERT INTO public.variables VALUES ('OPS-DEPLOY', 'awsSecretKeyPassword', NULL, true, '\x7365616c65643a7661723a7631', 1, 1795167480123456);


--
-- Name: audit_head audit_head_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_head
    ADD CONSTRAINT audit_head_pkey PRIMARY KEY (id);


--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (seq);


--
-- Name: connectors connectors_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.connectors
    ADD CONSTRAINT connectors_name_key UNIQUE (name);


--
-- Name: connectors connectors_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.connectors
    ADD CONSTRAINT connectors_pkey PRIMARY KEY (id);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (key);


--
-- Name: schema_version schema_version_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_version
    ADD CONSTRAINT schema_version_pkey PRIMARY KEY (version);


--
-- Name: tokens tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tokens
    ADD CONSTRAINT tokens_pkey PRIMARY KEY (id);


--
-- Name: variables variables_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.variables
    ADD CONSTRAINT variables_pkey PRIMARY KEY (plan, name);


--
-- Name: audit_connector; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_connector ON public.audit USING btree (connector, seq);


--
-- Name: audit_plan; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_plan ON public.audit USING btree (plan, seq);


--
-- Name: audit_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_time ON public.audit USING btree (time_us);


--
-- Name: connectors_base; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX connectors_base ON public.connectors USING btree (base_connector) WHERE (base_connector IS NOT NULL);


--
-- Name: audit audit_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_append_only BEFORE DELETE OR UPDATE ON public.audit FOR EACH ROW EXECUTE FUNCTION public.credbroker_audit_append_only();


--
-- Name: audit audit_no_truncate; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON public.audit FOR EACH STATEMENT EXECUTE FUNCTION public.credbroker_audit_append_only();


--
-- Name: connectors connectors_base_connector_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.connectors
    ADD CONSTRAINT connectors_base_connector_fkey FOREIGN KEY (base_connector) REFERENCES public.connectors(id);


--
-- PostgreSQL database dump complete
--


