{{/* A probe from values, with the route prefix in front of an httpGet path. */}}
{{- define "klaxon.probe" -}}
{{- $probe := deepCopy .probe }}
{{- if $probe.httpGet }}
{{- $_ := set $probe.httpGet "path" (printf "%s%s" .prefix $probe.httpGet.path) }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/* The git-sync container: the sidecar, or with oneTime the init container.
Arguments: root (the chart context), name, oneTime. */}}
{{- define "klaxon.gitSyncContainer" -}}
{{- $v := .root.Values.gitSync -}}
- name: {{ .name }}
  image: "{{ $v.image.repository }}:{{ $v.image.tag }}"
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args:
    - --repo={{ $v.repo }}
    - --ref={{ $v.ref }}
    - --root=/rules
    - --link=current
    - --depth={{ $v.depth }}
    {{- if .oneTime }}
    - --one-time
    {{- else }}
    - --period={{ $v.period }}
    {{- end }}
    {{- if $v.sshSecret }}
    - --ssh-key-file=/etc/git-secret/ssh
    - --ssh-known-hosts-file=/etc/git-secret/known_hosts
    {{- end }}
    {{- range $v.extraArgs }}
    - {{ . }}
    {{- end }}
  env:
    # git keeps its configuration in $HOME; the root filesystem is read-only.
    - name: HOME
      value: /tmp
  {{- with $v.credentialsSecret }}
    - name: GITSYNC_USERNAME
      valueFrom:
        secretKeyRef:
          name: {{ . }}
          key: username
    - name: GITSYNC_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ . }}
          key: password
  {{- end }}
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    {{- toYaml .root.Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: rules
      mountPath: /rules
    - name: git-tmp
      mountPath: /tmp
    {{- if $v.sshSecret }}
    - name: git-ssh
      mountPath: /etc/git-secret
      readOnly: true
    {{- end }}
{{- end }}
