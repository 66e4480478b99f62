; Inno Setup script for the Windows installer of the workbench.
;
; Build the one-folder bundle first (dist\workbench\workbench.exe), then
; compile this script from the repository root with Inno Setup 6:
;   iscc /DAppVersion=0.1.0 packaging\windows\workbench.iss
; packaging\windows\build-windows.ps1 runs both steps and the smoke test.
; The installer goes to dist\workbench-VERSION-windows-x64-setup.exe.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Workbench"
#define AppExe "workbench.exe"

[Setup]
; The AppId identifies the installation for upgrades and uninstall; keep it.
AppId={{6F1C2B0E-4A7D-4C39-9E55-2D8B1F0A7C11}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Workbench developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; A per-user install needs no administrator rights; the dialog offers both.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=workbench-{#AppVersion}-windows-x64-setup
UninstallDisplayIcon={app}\{#AppExe}
; torch makes the bundle large: LZMA2 with a solid archive gives the
; smallest installer, at the price of a slower compile.
Compression=lzma2
SolidCompression=yes
LZMAUseSeparateProcess=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\workbench\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; Parameters: "open"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Parameters: "open"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Parameters: "open"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; Projects, settings and logs live in the user's folders (%APPDATA%,
; %LOCALAPPDATA%), never under {app}, so uninstalling leaves them in place.
